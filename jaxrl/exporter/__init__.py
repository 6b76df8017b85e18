"""Taking a trained policy out of jaxrl (`jaxrl export`, `jaxrl.export`): an ONNX graph of the
greedy policy (`graph`) and the self-describing policy folder around it (`folder`), which runs
without JAX. (Not named `export`: importing a subpackage of that name would replace the API's
`jaxrl.export` function on the package.)"""
