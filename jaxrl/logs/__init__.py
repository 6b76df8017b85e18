"""Where a run's numbers go: the logger protocol the training loop reports to, and its sinks
(TensorBoard, the progress display, Weights & Biases), plus the run's JSON files and videos."""
