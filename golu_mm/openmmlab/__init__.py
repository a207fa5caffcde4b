"""OpenMMLab integration, loaded by an explicit import (``import golu_mm`` stays torch-only):

- importing this package registers ``GoLU`` (and ``Mish``) in mmengine's root MODELS registry, so
  ``dict(type='GoLU')`` works as any ``act_cfg``, in ``ConvModule`` and from every scope;
- ``golu_mm.openmmlab.mmdet_models`` / ``mmseg_models`` / ``mmpretrain_models`` add the ``Act*``
  backbones and heads of each codebase (``mmseg_datasets`` the COCO-VOC dataset): the modules a
  config names in ``custom_imports`` (the mmdet ``projects/`` way), so the configs also run with
  each codebase's own tools; importing one also makes mmengine load checkpoints safely
  (safe_load.allow_mmengine_checkpoints: weights_only with an allow-list);
- ``ActivationMetaHook`` (activation_record) records the model's activations in its checkpoints
  and refuses to load a checkpoint trained with others; ``MechanismsHook`` (opt in) logs
  activation variance and gradient norms per stage during training; ``SaveOnSignalHook`` (opt
  in, tools/train.py --save-on-signal) saves a checkpoint and stops when the training is
  signalled (a time limit ahead, a preemption);
- ``allow_mmengine_checkpoints()`` makes mmengine load every checkpoint safely and checked
  (safe_load): what a script that imports no adapter calls before it loads a checkpoint through
  mmengine. Importing this package alone leaves mmengine's loaders as they are.
"""
from .activations import register_activations
from .activation_record import ActivationMetaHook  # noqa: F401 (registers the hook)
from .mechanisms_hook import MechanismsHook  # noqa: F401 (registers the opt-in hook)
from .save_on_signal import SaveOnSignalHook  # noqa: F401 (registers the opt-in hook)
from .safe_load import allow_mmengine_checkpoints  # noqa: F401 (the one call for scripts)

register_activations()
