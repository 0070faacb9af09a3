"""A hand-built ONNX detector whose answers can be checked: it finds the pure red, green and blue rectangles
that `recordings` draws, and answers in the Ultralytics YOLO layout `[batch, 4 + 3, anchors]`.

For each colour it thresholds the pixels, takes the bounding box of the matching pixels and scores it 0.9
(0 when the colour is absent). A second anchor per colour repeats the box 2 px off with score 0.72, so a
result without duplicates proves that NMS ran.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CLASSES = ("red", "green", "blue")
_BIG = 1.0e6


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name=name))


def build_detector(fixed_size: int | None = None) -> onnx.ModelProto:
    """With `fixed_size`, the input is [N, 3, size, size]; otherwise height and width are dynamic."""
    side: int | str = fixed_size if fixed_size is not None else "height"
    side_w: int | str = fixed_size if fixed_size is not None else "width"
    nodes: list[onnx.NodeProto] = [
        _const("hi", np.array(0.6, dtype=np.float32)),
        _const("lo", np.array(0.4, dtype=np.float32)),
        _const("one", np.array(1.0, dtype=np.float32)),
        _const("big", np.array(_BIG, dtype=np.float32)),
        _const("half", np.array(0.5, dtype=np.float32)),
        _const("score", np.array(0.9, dtype=np.float32)),
        _const("echo", np.array(0.8, dtype=np.float32)),
        _const("shift", np.array(2.0, dtype=np.float32)),
        _const("eye", np.eye(3, dtype=np.float32)[None]),
        _const("zero_i", np.array(0, dtype=np.int64)),
        _const("one_i", np.array(1, dtype=np.int64)),
    ]
    for index, channel in enumerate("RGB"):
        nodes.append(_const(f"s{index}", np.array([index], dtype=np.int64)))
        nodes.append(_const(f"e{index}", np.array([index + 1], dtype=np.int64)))
        nodes.append(_const(f"a{index}", np.array([1], dtype=np.int64)))
        nodes.append(helper.make_node("Slice", ["images", f"s{index}", f"e{index}", f"a{index}"], [channel]))
        nodes.append(helper.make_node("Greater", [channel, "hi"], [f"{channel}_high"]))
        nodes.append(helper.make_node("Less", [channel, "lo"], [f"{channel}_low"]))
    for label, (high, low1, low2) in zip(CLASSES, (("R", "G", "B"), ("G", "R", "B"), ("B", "R", "G")), strict=True):
        nodes += [
            helper.make_node("And", [f"{high}_high", f"{low1}_low"], [f"{label}_and"]),
            helper.make_node("And", [f"{label}_and", f"{low2}_low"], [f"{label}_bool"]),
            helper.make_node("Cast", [f"{label}_bool"], [f"{label}_mask"], to=TensorProto.FLOAT),
        ]
    nodes.append(helper.make_node("Concat", [f"{label}_mask" for label in CLASSES], ["masks"], axis=1))
    nodes.append(helper.make_node("Shape", ["images"], ["shape"]))
    for axis_name, axis, reduce_axis in (("x", 3, 2), ("y", 2, 3)):
        nodes += [
            _const(f"{axis_name}_axis", np.array([axis], dtype=np.int64)),
            _const(f"{axis_name}_reduce", np.array([reduce_axis], dtype=np.int64)),
            helper.make_node("Gather", ["shape", f"{axis_name}_axis"], [f"{axis_name}_len_1"], axis=0),
            helper.make_node("Squeeze", [f"{axis_name}_len_1"], [f"{axis_name}_len"]),
            helper.make_node("Range", ["zero_i", f"{axis_name}_len", "one_i"], [f"{axis_name}_range_i"]),
            helper.make_node("Cast", [f"{axis_name}_range_i"], [f"{axis_name}_range"], to=TensorProto.FLOAT),
            # presence of each colour along the axis: [N, 3, len]
            helper.make_node("ReduceMax", ["masks", f"{axis_name}_reduce"], [f"{axis_name}_seen"], keepdims=0),
            helper.make_node("Mul", [f"{axis_name}_seen", f"{axis_name}_range"], [f"{axis_name}_at"]),
            helper.make_node("Sub", ["one", f"{axis_name}_seen"], [f"{axis_name}_unseen"]),
            helper.make_node("Mul", [f"{axis_name}_unseen", "big"], [f"{axis_name}_far"]),
            helper.make_node("Add", [f"{axis_name}_at", f"{axis_name}_far"], [f"{axis_name}_low_cand"]),
            helper.make_node("ReduceMin", [f"{axis_name}_low_cand", "two_axis"], [f"{axis_name}1"], keepdims=0),
            helper.make_node("Add", [f"{axis_name}_range", "one"], [f"{axis_name}_end"]),
            helper.make_node("Mul", [f"{axis_name}_seen", f"{axis_name}_end"], [f"{axis_name}_high_cand"]),
            helper.make_node("ReduceMax", [f"{axis_name}_high_cand", "two_axis"], [f"{axis_name}2"], keepdims=0),
            helper.make_node("Add", [f"{axis_name}1", f"{axis_name}2"], [f"{axis_name}_sum"]),
            helper.make_node("Mul", [f"{axis_name}_sum", "half"], [f"c{axis_name}"]),
            helper.make_node("Sub", [f"{axis_name}2", f"{axis_name}1"], [f"{axis_name}_size"]),
        ]
    nodes.insert(0, _const("two_axis", np.array([2], dtype=np.int64)))
    nodes += [
        # score per colour: 0.9 when any pixel matched, [N, 3]
        helper.make_node("ReduceMax", ["x_seen", "two_axis"], ["present"], keepdims=0),
        helper.make_node("Mul", ["present", "score"], ["best"]),
        helper.make_node("Mul", ["best", "echo"], ["echo_score"]),
        helper.make_node("Add", ["cx", "shift"], ["cx_echo"]),
        helper.make_node("Add", ["cy", "shift"], ["cy_echo"]),
        helper.make_node("Concat", ["cx", "cx_echo"], ["all_cx"], axis=1),
        helper.make_node("Concat", ["cy", "cy_echo"], ["all_cy"], axis=1),
        helper.make_node("Concat", ["x_size", "x_size"], ["all_w"], axis=1),
        helper.make_node("Concat", ["y_size", "y_size"], ["all_h"], axis=1),
        # class scores [N, 3 classes, 3 anchors]: diagonal, for the main and the echo anchors
        helper.make_node("Unsqueeze", ["best", "one_axis"], ["best_row"]),
        helper.make_node("Mul", ["best_row", "eye"], ["classes_main"]),
        helper.make_node("Unsqueeze", ["echo_score", "one_axis"], ["echo_row"]),
        helper.make_node("Mul", ["echo_row", "eye"], ["classes_echo"]),
        helper.make_node("Concat", ["classes_main", "classes_echo"], ["class_scores"], axis=2),
    ]
    nodes.insert(0, _const("one_axis", np.array([1], dtype=np.int64)))
    for name in ("all_cx", "all_cy", "all_w", "all_h"):
        nodes.append(helper.make_node("Unsqueeze", [name, "one_axis"], [f"{name}_row"]))
    nodes.append(
        helper.make_node(
            "Concat", ["all_cx_row", "all_cy_row", "all_w_row", "all_h_row", "class_scores"], ["output0"], axis=1
        )
    )
    graph = helper.make_graph(
        nodes,
        "colour_boxes",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, side, side_w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 4 + len(CLASSES), 2 * len(CLASSES)])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="vaultext-tests")
    model.ir_version = 8
    names = "{" + ", ".join(f"{i}: '{label}'" for i, label in enumerate(CLASSES)) + "}"
    helper.set_model_props(model, {"names": names, "description": "colour-boxes", "version": "1"})
    onnx.checker.check_model(model, full_check=True)
    return model


def write_detector(path: Path, fixed_size: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_detector(fixed_size), str(path))
    return path
