"""Model zoo: every model maps x -> (logits [B, C], embedding [B, D]).

All models share the call signature
`model.apply(variables, x, train=False, dropout=None)`; see each class.
"""

import dataclasses
import functools

import flax.linen as nn

from al_jax.models.cnn import CNN
from al_jax.models.conv3_dense3 import Conv3Dense3
from al_jax.models.logreg import LogReg
from al_jax.models.mlp import MLP
from al_jax.models.resnet import (ResNet, ResNet18, ResNet34, ResNet50,
                                  ResNet101)
from al_jax.models.vgg import VGG16

MODELS = {
    'logreg': LogReg,
    'mlp': MLP,
    'cnn': CNN,
    'conv3_dense3': Conv3Dense3,
    'vgg16': VGG16,
    'resnet18': ResNet18,
    'resnet34': ResNet34,
    'resnet50': ResNet50,
    'resnet101': ResNet101,
}


def model_fields(name: str) -> list[str]:
  """Returns the keyword fields `get_model(name, ...)` accepts (sorted)."""
  ctor = MODELS[name]
  bound = set()
  if isinstance(ctor, functools.partial):
    # Fields fixed by a variant (stage_sizes, block_cls) define the variant.
    bound = set(ctor.keywords)
    ctor = ctor.func
  # 'parent' and 'name' are flax bookkeeping; num_classes is positional.
  skip = bound | {'parent', 'name', 'num_classes'}
  return sorted(f.name for f in dataclasses.fields(ctor) if f.name not in skip)


def get_model(name: str, num_classes: int, **kwargs) -> nn.Module:
  """Builds a registered model.

  Args:
    name: A key of MODELS.
    num_classes: Number of output classes C.
    **kwargs: Model fields, e.g. `hidden_sizes=(64,)` for 'mlp'.

  Returns:
    The (unbound) flax module.

  Raises:
    ValueError: On an unknown name or unknown keyword arguments.
  """
  if name not in MODELS:
    raise ValueError(
        f'Unknown model {name!r}; valid names: {", ".join(sorted(MODELS))}.')
  valid = model_fields(name)
  bad = sorted(set(kwargs) - set(valid))
  if bad:
    raise ValueError(
        f'Unknown argument(s) {", ".join(bad)} for model {name!r}; '
        f'valid fields: {", ".join(valid)}.')
  return MODELS[name](num_classes=num_classes, **kwargs)


def from_config(model_cfg, num_classes: int) -> nn.Module:
  """`get_model` from a ``config.model`` section: ``name`` plus fields."""
  fields = dict(model_cfg)
  return get_model(fields.pop('name'), num_classes, **fields)


__all__ = ['MODELS', 'from_config', 'get_model', 'model_fields', 'CNN',
           'Conv3Dense3', 'LogReg', 'MLP',
           'ResNet', 'ResNet18', 'ResNet34', 'ResNet50', 'ResNet101', 'VGG16']
