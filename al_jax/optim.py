"""Optimizer and learning-rate schedule from ``config.train``.

Fields read (defaults in brackets): ``optimizer`` (sgd | momentum | adam |
adamw) [sgd], ``learning_rate`` [0.1], ``momentum`` [0.9, momentum only],
``nesterov`` [False], ``weight_decay`` [0.0], ``schedule`` (constant | cosine |
step | exponential) [constant], ``warmup_steps`` [0], ``decay_boundaries``
(fractions of the total steps, step schedule) [(0.5, 0.75)],
``decay_factor`` [0.1], ``decay_every_steps`` (exponential schedule) [1000].

Which step a schedule reads: 'constant' and 'exponential' are functions of
the model's *global* step (`global_schedule`), so a model fine-tuned over
active-learning rounds, or started from a pre-trained checkpoint, continues
its decay where it left off (paper 000 section 3.2 decays every 5e8 examples
of the whole run, pre-training included: a per-round restart would never
reach the first decay). 'cosine' and 'step' are defined over one `fit`'s
length, so they restart with every fit.
"""

import functools

import optax

OPTIMIZERS = ('sgd', 'momentum', 'adam', 'adamw')
SCHEDULES = ('constant', 'cosine', 'step', 'exponential')
GLOBAL_SCHEDULES = ('constant', 'exponential')
# Options each choice reads; setting one the chosen optimizer or schedule
# ignores is a config error (it would mislead the reader of the config).
_OPTIMIZER_OPTIONS = {'momentum': ('momentum',), 'nesterov': ('momentum',)}
_SCHEDULE_OPTIONS = {'decay_boundaries': ('step',),
                     'decay_factor': ('step', 'exponential'),
                     'decay_every_steps': ('exponential',)}


def check(cfg):
  """Raises ValueError for an unknown optimizer or schedule, or an option
  that the chosen one ignores (e.g. momentum with optimizer='sgd')."""
  name = cfg.get('optimizer', 'sgd')
  schedule = cfg.get('schedule', 'constant')
  if name not in OPTIMIZERS:
    raise ValueError(f'Unknown train.optimizer {name!r}; valid: {OPTIMIZERS}.')
  if schedule not in SCHEDULES:
    raise ValueError(f'Unknown train.schedule {schedule!r}; valid: '
                     f'{SCHEDULES}.')
  for options, chosen, what in ((_OPTIMIZER_OPTIONS, name, 'optimizer'),
                                (_SCHEDULE_OPTIONS, schedule, 'schedule')):
    for option, readers in options.items():
      if cfg.get(option) is not None and chosen not in readers:
        raise ValueError(
            f'train.{option} is set but train.{what}={chosen!r} ignores it '
            f'(read only by {what} {" / ".join(readers)}): remove it or '
            f'change train.{what}.')


def global_schedule(cfg) -> bool:
  """Whether the schedule reads the model's global step (see module doc)."""
  return cfg.get('schedule', 'constant') in GLOBAL_SCHEDULES


def make_schedule(cfg, total_steps: int) -> optax.Schedule:
  """Learning rate as a function of the step, over `total_steps` steps."""
  lr = cfg.get('learning_rate', 0.1)
  name = cfg.get('schedule', 'constant')
  warmup = cfg.get('warmup_steps', 0)
  rest = max(total_steps - warmup, 1)
  if name == 'constant':
    main = optax.constant_schedule(lr)
  elif name == 'cosine':
    main = optax.cosine_decay_schedule(lr, rest)
  elif name == 'step':
    bounds = cfg.get('decay_boundaries', (0.5, 0.75))
    factor = cfg.get('decay_factor', 0.1)
    # Boundaries that round to the same step (short runs) decay once each.
    scales = {}
    for b in bounds:
      scales[int(b * rest)] = scales.get(int(b * rest), 1.0) * factor
    main = optax.piecewise_constant_schedule(lr, scales)
  elif name == 'exponential':
    # Paper 000 (section 3.2) decays the rate "logarithmically" at fixed
    # intervals: a staircase exponential decay.
    main = optax.exponential_decay(
        lr, cfg.get('decay_every_steps', 1000), cfg.get('decay_factor', 0.1),
        staircase=True)
  else:
    raise ValueError(f'Unknown train.schedule {name!r}; valid: {SCHEDULES}.')
  if not warmup:
    return main
  return optax.join_schedules(
      [optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def make_optimizer(cfg) -> optax.GradientTransformation:
  """An optax transformation from ``config.train`` with UNIT learning rate.

  The caller multiplies the resulting updates by the scheduled rate
  (evaluated on the host). Every optimizer here is linear in its final
  learning-rate scale, so this equals optax's scheduled version, and the
  transformation (part of the jitted state's static structure) is the same
  object across rounds: no recompilation when the schedule changes.
  """
  return _unit_lr_optimizer(cfg.get('optimizer', 'sgd'),
                            cfg.get('momentum', 0.9),
                            cfg.get('nesterov', False),
                            cfg.get('weight_decay', 0.0))


@functools.lru_cache(maxsize=None)
def _unit_lr_optimizer(name, momentum, nesterov, wd):
  if name == 'adamw':
    return optax.adamw(1.0, weight_decay=wd)
  if name == 'adam':
    tx = optax.adam(1.0)
  elif name == 'sgd':
    tx = optax.sgd(1.0)
  elif name == 'momentum':
    tx = optax.sgd(1.0, momentum=momentum, nesterov=nesterov)
  else:
    raise ValueError(f'Unknown train.optimizer {name!r}; valid: {OPTIMIZERS}.')
  # L2 weight decay added to the gradient (coupled), as in the SGD recipes
  # of papers 000 and 002.
  return optax.chain(optax.add_decayed_weights(wd), tx) if wd else tx
