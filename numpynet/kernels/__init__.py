"""The hot loops: their definitions, and the door to their fast versions.

- `dispatch`: the one place that picks reference / Numba / GPU for every call (its docstring
  says how); the layers declare their math as kernels with `@dispatch.kernel`
- `naive`: every kernel's definition as plain Python loops (small inputs; for reading, tests)
- `im2col`: convolution as a matrix product, the data movement (im2col / col2im references)
- `fast/`: the engine: a compiled function of the same name for every kernel, the chunked
  convolution with its workspace and Winograd's F(2x2, 3x3), and the memory they reuse

A learner reads the layers (the references) and `im2col`; `fast/` computes the same numbers,
checked by tests/test_kernels.py and tests/test_fast_paths.py.
"""
