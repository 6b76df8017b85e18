"""Taking a trained policy out of jaxrl: an ONNX graph of the greedy policy (`graph`) and the
self-describing policy folder around it (`folder`), which runs without JAX."""
