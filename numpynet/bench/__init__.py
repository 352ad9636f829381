"""How fast is a training step of AlexNet, layer by layer, and against PyTorch on the same machine?

    python -m numpynet.bench                         # batch 128, training step and inference
    python -m numpynet.bench --compare torch         # the same network in PyTorch, same process
    python -m numpynet.bench --batch 2 --repeats 1   # a quick look

What it measures, for the paper's AlexNet (`alexnet(1000)`, groups=2) on a random batch:

- the training step: forward, softmax loss, backward and the SGD update (momentum 0.9, weight
  decay 5e-4), and inference (forward with train=False; `--eval`: only that); median and
  spread over `--repeats` steps after `--warmup` steps. The first step of the process is timed
  on its own: it includes Numba's compilation (or loading the compiled kernels from its cache).
  With `--compare torch` the two frameworks take their steps in turns, so that a busy spell of
  a shared machine slows both; the CPU s column (process CPU time per step, all threads) is
  less disturbed by other programs than the wall clock.
- per layer: forward and backward time, share of the step, GFLOP/s, and the process CPU time
  with the cores it kept busy (CPU / wall: about 2 on 2 cores when BLAS's and Numba's threads
  all work, lower where a layer runs on one thread or its threads wait); inside the
  convolutions, the time spent in im2col/col2im (kernels/fast/im2col.py), in the
  Winograd transforms of the 3x3 layers (kernels/fast/winograd.py; their GFLOP/s count the direct
  convolution's multiply-adds, so they can pass the matrix-product peak) and in the moves
  between the products and NCHW (kernels/fast/product_layout.py); and the matrix products (Conv2D
  less those kernels, and Linear): their share of the step and their GFLOP/s. The step's % of
  peak is that share times that rate over the peak: the line says which of the two holds it
  back.
- achieved GFLOP/s against the machine's matrix-product peak, measured in the same run as a
  4096 x 4096 float32 `A @ B`.
- `--memory`: the peak resident memory of a training step, for each framework in a fresh
  process (bench/children.py).
- `--startup`: import + first training step in a fresh process, with an empty Numba cache
  (cold) and again with the cache it left (warm).
- `--ranks P` (instead of the above): the step on 1 process x T threads against P MPI ranks x
  T/P threads, data parallel (overlapping backward or not) and model parallel, the bytes each
  rank sends per step, and the cost model of P machines on a network (bench/ranks.py).

Threads: `--threads N` (default: all cores) is given to BLAS, Numba and PyTorch alike; the
benchmark restarts itself once to set them (bench/cli.py says why). OpenBLAS's kernels are the
environment's choice (OPENBLAS_CORETYPE, or OpenBLAS's own detection; the header says which
ran); `--blas-core NAME` restarts with OPENBLAS_CORETYPE=NAME instead, e.g. SkylakeX for the
AVX-512 kernels (numpynet/openblas.py says more). PyTorch does not use OpenBLAS: its kernels are
its own choice.

PyTorch is never needed by numpynet: it is imported only for `--compare torch` (skipped with a
note when it is not installed), in bench/torch_runner.py.

    bench/cli.py           flags, the restart with the thread settings, the order of the reports
    bench/runners.py       numpynet's network and step; the instrumented step (per layer, kernels)
    bench/torch_runner.py  the same network in PyTorch, with the same weights
    bench/timing.py        the clock, the matrix-product peak, the measured steps
    bench/report.py        the tables that are printed
    bench/children.py      peak memory and start-up, each in a fresh process
    bench/ranks.py         --ranks: 1 process against P MPI ranks, and the cost model
FLOPs come from numpynet/costs.py (2 per multiply-add; backward twice forward).
"""
