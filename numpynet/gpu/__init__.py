"""The GPU backend's own code: kernels for the hot loops and device-side data augmentation.

    kernels.py   im2col / col2im, max-pool and LRN as Numba-CUDA kernels, taking and returning
                 CuPy arrays; numpynet/kernels/dispatch.py sends CuPy inputs to them
    augment.py   uint8 crops to the GPU, then flip, mean subtraction and PCA colour there

Nothing here is imported by `import numpynet`, and nothing here imports CuPy at import time:
`numpynet.kernels.dispatch.gpu_module()` imports `kernels` on the first GPU array, and CuPy
itself is only asked for when a GPU array is (`numpynet.backend.load_cupy`). The matrix
products stay in the layers, where CuPy hands them to cuBLAS.
"""
