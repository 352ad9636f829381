"""One training step: the four stages every program that trains goes through, written once.

train, bench, the MPI runs, diagnostics and the notebooks all call `train_step`, so the step a
learner reads here is the step that runs.
"""


def train_step(net, loss_fn, opt, x, labels, backward=None):
    """One SGD step on a batch; -> (loss: float, logits).

        1. forward    logits = net(x)                  train=True: dropout draws its masks
        2. loss       L = loss_fn(logits, labels)      softmax cross-entropy, mean over N
        3. backward   dL/dW of every layer             from dL/dlogits, back to conv1
        4. update     W <- W + v                       opt.step() (optim.py)

    Backward asks for no dL/d(image) (`input_grad=False`): nothing learns the images, and
    conv1 saves a third of its backward work. `backward(dlogits)` replaces stage 3 where the
    gradients must also travel between processes (parallel/training.py: data parallelism sums
    them over ranks); by default it is `net.backward(dlogits, input_grad=False)`.
    """
    logits = net.forward(x, train=True)
    loss = loss_fn.forward(logits, labels)
    if backward is None:
        net.backward(loss_fn.backward(), input_grad=False)
    else:
        backward(loss_fn.backward())
    opt.step()
    return loss, logits
