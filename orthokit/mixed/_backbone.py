"""The latent layers of an ARMED backbone: what the adversary and the effects read.

A backbone is any ``torch.nn.Module`` that maps a batch of inputs to a
feature vector ``h_F(x)``: a dense network, a CNN for images, a pretrained
encoder. The adversary reads its latent layers (the ARMED paper feeds it the
output of every layer of the CNN), the fixed-effects head and the random
slopes read the last one. Which layers are latent is said in one of two ways:

- the backbone returns its latents, a tuple or list of tensors whose last is
  the feature vector (the default dense backbone returns every hidden
  activation), or a single tensor, the feature vector alone;
- ``adversary_layers`` names submodules of the backbone
  (``backbone.get_submodule(name)``); their outputs are captured with forward
  hooks, registered for one forward pass and removed after it.

Every latent is flattened to ``(n_samples, width)``.
"""

import copy

import torch


def _keep(captured, name):
    def hook(module, args, output):
        captured[name] = output

    return hook


def _flat(tensor):
    if not isinstance(tensor, torch.Tensor) or tensor.ndim < 2:
        raise ValueError(
            "an ARMED backbone must return a tensor of shape (n_samples, ...) or "
            f"a tuple of such tensors; got {type(tensor).__name__} "
            f"{tuple(getattr(tensor, 'shape', ()))}."
        )
    return tensor.flatten(1)


def backbone_latents(backbone, x, adversary_layers=None):
    """Run ``backbone`` on ``x``; return the adversary's latents and ``h_F(x)``.

    Parameters
    ----------
    backbone : torch.nn.Module
    x : Tensor of shape (n_samples, ...)
    adversary_layers : sequence of str or None, default=None
        Submodules whose outputs the adversary reads; None: the latents the
        backbone returns.

    Returns
    -------
    latents : list of Tensor of shape (n_samples, width)
    features : Tensor of shape (n_samples, n_latent)
        The last latent the backbone returns, flattened.
    """
    if adversary_layers is None:
        out = backbone(x)
        latents = [_flat(t) for t in (out if isinstance(out, tuple | list) else [out])]
        return latents, latents[-1]
    captured, handles = {}, []
    try:
        for name in adversary_layers:
            layer = backbone.get_submodule(name)
            handles.append(layer.register_forward_hook(_keep(captured, name)))
        out = backbone(x)
    finally:
        for handle in handles:
            handle.remove()
    missing = [name for name in adversary_layers if name not in captured]
    if missing:
        raise ValueError(f"adversary_layers {missing} were not called by the backbone.")
    last = out[-1] if isinstance(out, tuple | list) else out
    return [_flat(captured[name]) for name in adversary_layers], _flat(last)


def latent_widths(backbone, input_shape, adversary_layers=None):
    """Widths of the latents and of ``h_F``, from one pass over two zero samples.

    The pass runs in eval mode without gradients (batch norm neither uses nor
    updates batch statistics, dropout is off), so it leaves the backbone as it
    was.

    Parameters
    ----------
    backbone : torch.nn.Module
    input_shape : tuple of int
        Shape of one sample.
    adversary_layers : sequence of str or None, default=None

    Returns
    -------
    latent_widths : list of int
    n_latent : int

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten())
    >>> latent_widths(net, (1, 4, 4))
    ([8], 8)
    >>> latent_widths(net, (1, 4, 4), adversary_layers=["0", "2"])
    ([8, 8], 8)
    """
    if adversary_layers is not None:
        names = {name for name, _ in backbone.named_modules()}
        unknown = [name for name in adversary_layers if name not in names]
        if unknown:
            raise ValueError(
                f"adversary_layers {unknown} are not submodules of the backbone; "
                f"its submodules are {sorted(names - {''})[:20]}."
            )
    was_training = backbone.training
    parameter = next(backbone.parameters(), None)
    device = parameter.device if parameter is not None else None
    backbone.eval()
    try:
        with torch.no_grad():
            latents, features = backbone_latents(
                backbone, torch.zeros(2, *input_shape, device=device), adversary_layers
            )
    finally:
        backbone.train(was_training)
    return [t.shape[1] for t in latents], features.shape[1]


def check_adversary_layers(adversary_layers):
    """Return ``adversary_layers`` as a list of names (None stays None).

    Parameters
    ----------
    adversary_layers : str, sequence of str or None

    Returns
    -------
    list of str or None
    """
    if adversary_layers is None:
        return None
    layers = adversary_layers
    layers = [layers] if isinstance(layers, str) else list(layers)
    if not layers or not all(isinstance(name, str) for name in layers):
        raise ValueError(
            "adversary_layers must be None or a list of names of submodules of "
            f"the backbone, got {adversary_layers!r}."
        )
    return layers


def build_backbone(net, generator, input_shape):
    """Build ``net.backbone`` with its ``backbone__*`` parameters, seeded.

    A class (or an instance with parameters, rebuilt from its class as skorch
    does) is built, an instance without parameters copied: every fit starts
    from the same weights, and the estimator's parameter is never trained in
    place. The build and one pass over ``input_shape`` (which initializes
    lazy modules such as ``nn.LazyLinear``) run with torch's global random
    state forked, seeded from ``generator`` and restored afterwards: the
    initial weights follow ``random_state`` and torch's global generator is
    left as it was.

    Parameters
    ----------
    net : ARMEDClassifier or ARMEDRegressor
    generator : torch.Generator
        The fit's generator.
    input_shape : tuple of int
        Shape of one sample.

    Returns
    -------
    torch.nn.Module
    """
    kwargs = net.get_params_for("backbone")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(net.backbone, torch.nn.Module) and not kwargs:
            backbone = copy.deepcopy(net.backbone)
        else:
            backbone = net.initialized_instance(net.backbone, kwargs)
        if not isinstance(backbone, torch.nn.Module):
            raise TypeError(
                "backbone must be a torch.nn.Module class or instance, got "
                f"{type(backbone).__name__}."
            )
        latent_widths(backbone, input_shape)
    return backbone
