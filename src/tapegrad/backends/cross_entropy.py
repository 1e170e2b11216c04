"""Finding softmax cross-entropy in a recorded graph, so that the NumPy backend runs each
sample's loss as one row of one group (numpy.py, _CrossEntropyGroup).

``losses.softmax_cross_entropy`` records, per sample with logits z_1..z_k (ops.py's rules):

    a_j  = z_j + c            c = -max_j z_j, a constant taken from the data when recorded
    e_j  = exp(a_j)
    S    = ((e_1 + 0) + e_2) + ... + e_k          Python's sum(), from 0
    lse  = log(S) + m         m = max_j z_j, the same shift, added back
    d    = dot(z, t, 0)       Σ_j z_j t_j for a row of targets t (one-hot, or probabilities),
           or z_c             for a class index c
    ℓ    = lse + d · (-1)     (lse - d)

Its derivative, from those rules: ∂ℓ/∂z_j = (1/S) · e_j - t_j = softmax(z)_j - t_j (the shift
is a constant: no gradient), and ∂ℓ/∂t_j = -z_j. The group computes ℓ with the *current* row
maximum as the shift -- what eager computes on the same logits, where the recorded constant
would go stale as the logits change -- and its gradient from those two lines.

This file only reads the graph's arrays: no NumPy.
"""

from ..ops import Op


def _sample(i, constant, ops, arg_indices, once):
    """(logits, targets or None, class index or None, the nodes the group absorbs) if node i is
    one sample's ℓ, else None. `constant(j)`: the number node j holds if it is a constant, else
    None; `once(j)`: node j is used by one node only, and is no output."""
    args = arg_indices
    if ops[i] is not Op.ADD:
        return None
    lse, neg = args[i]
    if not (ops[lse] is Op.ADD and ops[neg] is Op.MUL and once(lse) and once(neg)):
        return None
    log, shift_node = args[lse]
    shift = constant(shift_node)
    if shift is None or ops[log] is not Op.LOG or not once(log):
        return None
    d, minus_one = args[neg]
    if constant(minus_one) != -1.0:
        return None
    # the sum of exps, walked from its last addition down to (e_1 + 0): no recursion
    exps, chain, s = [], [], args[log][0]
    while ops[s] is Op.ADD and once(s):
        chain.append(s)
        left, right = args[s]
        if constant(right) == 0.0 and ops[left] is Op.EXP:
            exps.append(left)
            break
        if ops[right] is not Op.EXP:
            return None
        exps.append(right)
        s = left
    else:
        return None
    exps.reverse()
    zs, shifted = [], []
    for e in exps:
        a = args[e][0]
        if not (once(e) and ops[a] is Op.ADD and once(a)):
            return None
        z, c = args[a]
        if constant(c) != -shift:
            return None
        zs.append(z)
        shifted.append(a)
    absorbed = [*shifted, *exps, *chain, log, lse, neg]
    if ops[d] is Op.DOT and once(d):
        k = len(zs)
        weights, inputs, bias = args[d][:k], args[d][k:2 * k], args[d][2 * k:]
        if list(weights) != zs or len(bias) != 1 or constant(bias[0]) != 0.0:
            return None
        return zs, list(inputs), None, absorbed + [d]
    if d in zs:
        return zs, None, zs.index(d), absorbed
    return None


def find_cross_entropies(constant, ops, arg_indices, uses, outputs, candidates=None) -> dict:
    """{ℓ node: (logits, targets or None, class or None, absorbed nodes)} for every sample of a
    softmax cross-entropy (module docstring) in the graph, looked for at the nodes
    `candidates` (ascending; None: every node); the absorbed nodes are each found once."""
    def once(j):
        return uses[j] == 1 and j not in outputs

    found, taken = {}, set()
    for i in range(len(ops)) if candidates is None else candidates:
        if ops[i] is Op.ADD and len(arg_indices[i]) == 2:
            sample = _sample(i, constant, ops, arg_indices, once)
            if sample is not None and not taken.intersection(sample[3]):
                found[i] = sample
                taken.update(sample[3])
    return found


__all__ = ["find_cross_entropies"]
