"""LiteRT's reference kernels (``BUILTIN_REF``) as the external oracle of whole models."""

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

__all__ = ["reference_outputs"]


def reference_outputs(model, frames):
    """The int8 output of ``model`` (a ``.tflite`` path with one input and one output) for
    each frame of ``frames`` (batch-1 input tensors without their batch dimension)."""
    interpreter = Interpreter(model_path=str(model), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    (sink,) = interpreter.get_output_details()
    outputs = []
    for frame in frames:
        interpreter.set_tensor(source["index"], np.asarray(frame)[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(sink["index"])[0])
    return np.array(outputs)
