"""Training on more than one process, over MPI (mpi4py + Open MPI:
pip install 'numpynet-alexnet[mpi]').

    mpi.py              the World of a run (rank, size, collectives), abort instead of hang
    data_parallel.py    every rank the whole network, a part of each batch, gradients summed
    model_parallel.py   the paper's two-GPU split (section 3.2): one tower per rank
    dropout.py          dropout on a part of an activation, with the whole one's mask
    training.py         what numpynet.train does differently on several ranks (one class each)

Nothing here imports mpi4py until a run asks for MPI, so numpynet works without it.
"""
