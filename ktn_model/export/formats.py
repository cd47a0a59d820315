"""What an exported file is: its formats and the names inside it, shared by the writer and the runtime."""

FORMATS = ("onnx", "torchscript")
OPSET = 17
INPUT_NAME = "image"
CONFIG_KEY = "ktn.config"  # ONNX metadata key holding the config (YAML)
EXTRA_CONFIG, EXTRA_OUTPUTS = "ktn_config.yaml", "ktn_outputs.json"  # TorchScript extra files
ONNX_SUFFIX = ".onnx"
ONNX_EXTRA = 'pip install -e ".[onnx]"'  # what installs onnx and onnxruntime (pyproject.toml's onnx extra)
