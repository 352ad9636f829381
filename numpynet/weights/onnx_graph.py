"""A numpynet network as an ONNX graph (inference), built node by node with `onnx.helper`.

    numpynet layer          ONNX node
    Scale(c)                Mul(x, c)
    Conv2D                  Conv(x, W, b; kernel_shape, strides, pads, group)
    ReLU                    Relu
    LocalResponseNorm       LRN(size, alpha = alpha * size, beta, bias = k): ONNX, like Caffe
                            and PyTorch, divides alpha by size inside the operator
    MaxPool2D               MaxPool(kernel_shape, strides)      (floor: the same output size)
    BatchNorm2D             BatchNormalization(gamma, beta, running mean and var; epsilon)
    Flatten                 Flatten(axis = 1)
    Linear                  Gemm(x, W, b; transB = 1)           (y = x W^T + b)
    Dropout                 nothing: the identity at inference

Input "pixels" (N, 3, S, S): RGB 0-255 minus the network's mean image, centre crop S, as
numpynet's predict feeds it; output "logits" (N, classes). Needs the `onnx` package (an
optional extra; onnxruntime runs the result).
"""

import numpy as np

from ..layers import (BatchNorm2D, Conv2D, Dropout, Flatten, Linear, LocalResponseNorm,
                      MaxPool2D, ReLU, Scale)

OPSET = 13


def import_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("exporting to ONNX needs the onnx package: pip install onnx") from None
    return onnx


def to_onnx(net, input_size, doc=""):
    """-> onnx.ModelProto of `net` (inference), checked by onnx.checker."""
    onnx = import_onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    nodes, weights, x = [], [], "pixels"

    def const(name, array):
        weights.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    for layer in net:
        y = layer.name
        p = {k: np.asarray(v) for k, v in {**layer.params, **layer.buffers}.items()}
        if isinstance(layer, Scale):
            nodes.append(helper.make_node("Mul", [x, const(f"{y}.c", layer.c)], [y]))
        elif isinstance(layer, Conv2D):
            pad = layer.padding
            nodes.append(helper.make_node(
                "Conv", [x, const(f"{y}.W", p["W"]), const(f"{y}.b", p["b"])], [y],
                kernel_shape=list(layer.kernel_size), strides=[layer.stride] * 2,
                pads=[pad] * 4, group=layer.groups))
        elif isinstance(layer, ReLU):
            nodes.append(helper.make_node("Relu", [x], [y]))
        elif isinstance(layer, LocalResponseNorm):
            nodes.append(helper.make_node("LRN", [x], [y], size=layer.size,
                                          alpha=layer.alpha * layer.size, beta=layer.beta,
                                          bias=layer.k))
        elif isinstance(layer, MaxPool2D):
            nodes.append(helper.make_node("MaxPool", [x], [y],
                                          kernel_shape=[layer.kernel_size] * 2,
                                          strides=[layer.stride] * 2))
        elif isinstance(layer, BatchNorm2D):
            names = [const(f"{y}.{k}", p[k])
                     for k in ("gamma", "beta", "running_mean", "running_var")]
            nodes.append(helper.make_node("BatchNormalization", [x, *names], [y],
                                          epsilon=layer.eps))
        elif isinstance(layer, Flatten):
            nodes.append(helper.make_node("Flatten", [x], [y], axis=1))
        elif isinstance(layer, Linear):
            nodes.append(helper.make_node(
                "Gemm", [x, const(f"{y}.W", p["W"]), const(f"{y}.b", p["b"])], [y], transB=1))
        elif isinstance(layer, Dropout):
            continue
        else:
            raise TypeError(f"no ONNX operator for layer {layer.name} ({type(layer).__name__})")
        x = y
    nodes.append(helper.make_node("Identity", [x], ["logits"]))
    classes = net.layers[-1].out_features
    graph = helper.make_graph(
        nodes, "numpynet_alexnet",
        [helper.make_tensor_value_info("pixels", onnx.TensorProto.FLOAT,
                                       ["N", 3, input_size, input_size])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", classes])],
        initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="numpynet", doc_string=doc)
    model.ir_version = min(model.ir_version, 8)        # readable by older onnxruntimes too
    onnx.checker.check_model(model)
    return model
