"""Trained weights in and out: Caffe's .caffemodel (a protobuf wire format read by hand),
torchvision's AlexNet state_dicts (.pth, .npz, .safetensors) and ONNX graphs.

    caffe.py        .caffemodel <-> numpynet (paper / caffe presets), Caffe's mean files
    protobuf.py     the protobuf wire format, by hand
    torchvision.py  a torchvision AlexNet state_dict -> numpynet's torchvision preset
    pth.py          PyTorch's .pth files without PyTorch (a restricted unpickler)
    onnx_graph.py   numpynet network -> ONNX graph (the `onnx` package)
    pretrained.py   `--weights caffe:PATH | torchvision:PATH | CHECKPOINT` -> network, classes,
                    mean: what predict and evaluate run
"""
