"""
adafactor_ref.py - an independent NumPy implementation of Adafactor as
documented for torch.optim.Adafactor in PyTorch 2.5 (the algorithm box of
its documentation, with the implementation's conventions where the box is
silent), used to write libnn's Adafactor fixtures. PyTorch 1.13, the version
Debian ships, has no Adafactor, so this module stands in for it.

Per step t (1-based), for each parameter theta with gradient G:

    beta2_hat_t = 1 - t ** beta2_decay          (beta2_decay = -0.8)
    rho_t       = min(lr, 1 / sqrt(t))          (lr = 1e-2)
    alpha_t     = max(eps2, RMS(theta)) * rho_t (eps2 = 1e-3; RMS before decay)
    theta      *= 1 - lr * weight_decay         (decoupled, weight_decay = 0)
    if theta has >= 2 dimensions (factored over its last two axes, the
    leading axes are a batch of matrices):
        R  <- beta2_hat R + (1 - beta2_hat) mean over the last axis of G^2
        C  <- beta2_hat C + (1 - beta2_hat) mean over the next-to-last axis of G^2
        V  =  (R C) / max(mean of R over the next-to-last axis, eps1)
    else:
        V  <- beta2_hat V + (1 - beta2_hat) G^2
    U     = G / max(sqrt(V), eps1)              (eps1 = machine eps of the dtype)
    U_hat = U / max(1, RMS(U) / d)              (d = 1)
    theta -= alpha_t U_hat

R and C hold means where the documentation's box writes sums (G^2 1_m); the
ratio R C / (1^T R) is the same either way, and means are what 2.5's code
keeps. eps1 is the float32 machine epsilon here because libnn's parameters
are float32, even though this reference computes in float64.
"""

import numpy as np

FLOAT32_EPS = float(np.finfo(np.float32).eps)


class Adafactor:
    """Adafactor over a list of float64 NumPy arrays, updated in place."""

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps1=None, eps2=1e-3,
                 d=1.0, weight_decay=0.0, decay_mask=None):
        self.params = params
        self.lr = lr
        self.beta2_decay = beta2_decay
        self.eps1 = FLOAT32_EPS if eps1 is None else eps1
        self.eps2 = eps2
        self.d = d
        self.weight_decay = weight_decay
        self.decay_mask = decay_mask or [True] * len(params)
        self.t = 0
        self.state = []
        for p in params:
            if p.ndim >= 2:
                row = np.zeros(p.shape[:-1] + (1,))
                col = np.zeros(p.shape[:-2] + (1, p.shape[-1]))
                self.state.append((row, col))
            else:
                self.state.append(np.zeros(p.shape))

    @staticmethod
    def _rms(x):
        return float(np.sqrt(np.mean(np.square(x))))

    def step(self, grads):
        self.t += 1
        t = float(self.t)
        one_minus_beta2 = t ** self.beta2_decay
        rho = min(self.lr, 1.0 / np.sqrt(t))
        for i, (p, g) in enumerate(zip(self.params, grads)):
            alpha = max(self.eps2, self._rms(p)) * rho
            if self.weight_decay != 0 and self.decay_mask[i]:
                p *= 1.0 - self.lr * self.weight_decay
            g2 = g * g
            if p.ndim >= 2:
                row, col = self.state[i]
                row += one_minus_beta2 * (g2.mean(axis=-1, keepdims=True) - row)
                col += one_minus_beta2 * (g2.mean(axis=-2, keepdims=True) - col)
                row_mean = np.maximum(row.mean(axis=-2, keepdims=True), self.eps1)
                v = row * col / row_mean
            else:
                var = self.state[i]
                var += one_minus_beta2 * (g2 - var)
                v = var.copy()
            u = g / np.maximum(np.sqrt(v), self.eps1)
            denom = max(1.0, self._rms(u) / self.d)
            p -= (alpha / denom) * u


def _self_check():
    """A hand-computed first step: with t = 1 the moments equal G^2, so
    U = G / sqrt(V) and, for a vector, U = sign(G), RMS(U) = 1."""
    p = np.array([0.5, -1.0, 2.0])
    g = np.array([0.1, -0.2, 0.0])
    opt = Adafactor([p])
    opt.step([g])
    rms = np.sqrt(np.mean(np.array([0.5, -1.0, 2.0]) ** 2))
    # the zero gradient gives V = 0, so U = 0 / eps1 = 0 there
    u = np.array([1.0, -1.0, 0.0])
    want = np.array([0.5, -1.0, 2.0]) - rms * 0.01 * u / max(1.0, np.sqrt(2.0 / 3.0))
    assert np.allclose(p, want, rtol=1e-14, atol=0), (p, want)
    # A matrix of rank one: the factored estimate is exact, U = sign(G).
    a = np.array([1.0, 2.0])
    b = np.array([3.0, -1.0, 0.5])
    w = np.ones((2, 3))
    opt = Adafactor([w])
    opt.step([np.outer(a, b)])
    want = 1.0 - 0.01 * np.sign(np.outer(a, b))
    assert np.allclose(w, want, rtol=1e-14, atol=0), (w, want)


if __name__ == "__main__":
    _self_check()
    print("adafactor_ref: self-check passed")
