"""mmengine's Runner with checkpoint loading that cannot silently produce a wrong number.

mmengine loads a checkpoint whose keys or shapes do not match the model with a warning deep in
the log (evaluation then reports AP ~ 0 from random weights, exit code 0). CheckedRunner refuses
it, naming the offending keys, unless the config sets `load_non_strict = True` (tools:
`--non-strict`), which loads what matches and says so loudly. It also names unreadable files,
refuses to --resume from a weights-only file, falls back to the previous checkpoint when the
latest one is corrupt on auto-resume, and says when a resumed run has nothing left to train (and
then validates that final checkpoint).
"""
import warnings

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from .checkpoint import (CheckpointError, UnreadableCheckpointError, checkpoints_newest_first,
                         mismatch_error, read_checkpoint, revised_state_dict)
from .mmengine_private import load_into_model

TRAINING_STATE = ('meta', 'message_hub', 'optimizer')

class CheckedRunner(Runner):
    """Runner whose load_from, --resume and evaluation checkpoints must match the model."""

    _resuming = False
    _resumed_at_end = False
    loading_checkpoint = None

    def load_checkpoint(self, filename, map_location='cpu', strict=False,
                        revise_keys=[(r'^module.', '')]):  # noqa: B006 (mmengine's signature)
        checkpoint = read_checkpoint(filename, map_location)
        if self._resuming:
            absent = [k for k in TRAINING_STATE if k not in checkpoint]
            if absent or 'iter' not in checkpoint['meta']:
                raise CheckpointError(
                    f'--resume needs a checkpoint saved by training; {filename} has no '
                    f'{", ".join(absent or ["meta.iter"])} (weights only?). To start from its '
                    'weights, use load_from (train) or evaluate it with tools/test.py')
        model = self.model.module if is_model_wrapper(self.model) else self.model
        error = mismatch_error(model, revised_state_dict(checkpoint, revise_keys), filename)
        if error is None or self.cfg.get('load_non_strict', False):
            self.loading_checkpoint = filename  # for the hooks' messages (ActivationMetaHook)
            self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        if error is not None:
            if not self.cfg.get('load_non_strict', False):
                raise CheckpointError(f'{error}. Was it saved for another model or config? '
                                      '--non-strict loads the matching part anyway')
            loud = f'NON-STRICT LOAD: {error}. The rest of the model keeps its initial weights'
            self.logger.warning(loud)
            warnings.warn(loud, RuntimeWarning, stacklevel=2)
        checkpoint = load_into_model(model, checkpoint, revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def resume(self, filename, *args, **kwargs):
        self._resuming = True
        try:
            return super().resume(filename, *args, **kwargs)
        finally:
            self._resuming = False

    def load_or_resume(self):
        if self._has_loaded:
            return
        if self._resume and self._load_from is None:
            self._auto_resume()
        else:
            super().load_or_resume()
        loop = self._train_loop
        if self._resume and loop is not None and not isinstance(loop, dict) \
                and loop.iter >= loop.max_iters:
            self._resumed_at_end = True
            self.logger.warning(
                f'nothing to train: the resumed checkpoint is at iteration {loop.iter} and '
                f'this run ends at {loop.max_iters} (train_cfg); raise train_cfg.max_iters '
                '(or max_epochs) to train longer')

    def train(self):
        """mmengine's, and where the resumed checkpoint ends the training, its validation (a
        run stopped, or killed, between its last iteration and its validation has it then)."""
        model = super().train()
        if self._resumed_at_end and self._val_loop is not None:
            self.logger.info('evaluating the resumed final checkpoint')
            self.val_loop.run()
        return model

    def _auto_resume(self):
        """Resume from the newest readable checkpoint of the work dir, warning about any newer
        one that is unreadable (a run killed while saving leaves a truncated file)."""
        candidates = checkpoints_newest_first(self.work_dir)
        for path in candidates:
            try:
                self.resume(path)
            except UnreadableCheckpointError as exc:
                message = f'cannot resume from {path}: {exc}; trying the previous checkpoint'
                self.logger.warning(message)
                warnings.warn(message, RuntimeWarning, stacklevel=2)
                continue
            self.logger.info(f'Auto resumed from the latest readable checkpoint {path}.')
            return
        if candidates:
            raise UnreadableCheckpointError(
                f'no readable checkpoint to resume in {self.work_dir} (tried {len(candidates)})')
        self.logger.info(f'no checkpoint in {self.work_dir} to resume: training from the start')
