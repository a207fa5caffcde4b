"""tools/export_onnx.py: DeepLabV3 end to end and the Mask R-CNN backbone + neck of the demo
configs export to standard ONNX, onnxruntime matches PyTorch (also at other batch and image sizes
with --dynamic), and bad input is a clear error."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from golu_mm.openmmlab import apis
from golu_mm.openmmlab.activation_record import model_activations
from golu_mm.openmmlab.onnx_export import BackboneNeck, SegmentorLogits, export
from golu_mm.ops import torch_compat

ort = pytest.importorskip('onnxruntime', reason='requirements/export.txt (installed by make setup)')
# The export tests need the dynamo exporter; on an older torch, its refusal is tested instead.
needs_dynamo_exporter = pytest.mark.skipif(not torch_compat.has_dynamo_onnx_export(), reason=torch_compat.missing_feature(
    'torch.onnx.export(dynamo=True)', 'exporting an OpenMMLab model to ONNX'))

ROOT = Path(__file__).resolve().parents[2]
SEG = str(ROOT / 'configs/demo/deeplabv3_golu_demo.py')
DET = str(ROOT / 'configs/demo/mask_rcnn_golu_demo.py')


def onnx_outputs(path, x):
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return [torch.from_numpy(a) for a in session.run(None, {session.get_inputs()[0].name:
                                                            x.numpy()})]


@needs_dynamo_exporter
def test_deeplabv3_exports_end_to_end(tmp_path):
    result = export(SEG, str(tmp_path / 'seg.onnx'), shape=(96, 128))
    assert result['part'] == 'segmentor (logits)'
    assert result['outputs'] == [(1, 4, 96, 128)]  # 4 classes at the input size
    assert {domain for domain, _ in result['nodes']} == {'ai.onnx'}
    assert ('ai.onnx', 'Exp') in result['nodes']  # GoLU, decomposed
    assert result['max_abs_error'] < 1e-4


def saved_model(config, path):
    """The config's model with its (random) weights saved as a checkpoint at `path`."""
    model, _ = apis.build_model(config)
    torch.save({'state_dict': model.state_dict(),
                'meta': {'activations': model_activations(model)}}, path)  # as runs write it
    return model


@needs_dynamo_exporter
def test_mask_rcnn_backbone_neck_exports_with_dynamic_shapes(tmp_path):
    out = tmp_path / 'det.onnx'
    model = saved_model(DET, tmp_path / 'det.pth')
    result = export(DET, str(out), str(tmp_path / 'det.pth'), shape=(128, 128), dynamic=True)
    assert result['part'] == 'backbone + neck' and len(result['outputs']) == 5  # FPN levels
    assert result['max_abs_error'] < 1e-3
    wrapper = BackboneNeck(model).eval()
    for shape in ((2, 3, 96, 160), (1, 3, 64, 64)):
        x = torch.randn(shape)
        with torch.no_grad():
            expected = wrapper(x)
        for got, want in zip(onnx_outputs(out, x), expected):
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)


@needs_dynamo_exporter
def test_trained_checkpoint_is_what_gets_exported(tmp_path):
    model = saved_model(SEG, tmp_path / 'ckpt.pth')
    export(SEG, str(tmp_path / 'seg.onnx'), str(tmp_path / 'ckpt.pth'), shape=(64, 64))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = SegmentorLogits(model.eval())(x)
    torch.testing.assert_close(onnx_outputs(tmp_path / 'seg.onnx', x)[0], expected,
                               rtol=1e-4, atol=1e-4)


@pytest.mark.slow  # each runs tools/export_onnx.py in a subprocess
@needs_dynamo_exporter
@pytest.mark.parametrize('args,message', [
    (['configs/faster_rcnn_golu.py', 'missing.pth'], 'checkpoint missing.pth does not exist'),
    (['configs/demo/deeplabv3_golu_demo.py', '--opset', '9'], 'opset 9 is not supported'),
    (['configs/demo/deeplabv3_golu_demo.py', '--shape', '16', '16'], 'at least 32 pixels'),
    (['not_a_config.py'], 'does not exist'),
])
def test_tool_errors_are_clear(tmp_path, args, message):
    result = subprocess.run([sys.executable, 'tools/export_onnx.py', *args, '--out',
                             str(tmp_path / 'x.onnx')], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1 and message in result.stderr.splitlines()[-2]
    assert not (tmp_path / 'x.onnx').exists()


@needs_dynamo_exporter
def test_config_of_another_codebase_is_refused(tmp_path):
    config = tmp_path / 'other.py'
    config.write_text("default_scope = 'mmocr'\nmodel = dict(type='X')\n")
    with pytest.raises(ValueError, match="default_scope must be one of"):
        export(str(config), str(tmp_path / 'x.onnx'), shape=(64, 64))


@needs_dynamo_exporter
def test_mmcv_compiled_operators_are_named(tmp_path):
    dcn = {'model.backbone.dcn': dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
           'model.backbone.stage_with_dcn': (False, True, True, True),
           'model.backbone.depth': 50, 'model.neck.in_channels': [128, 256, 512, 1024]}
    with pytest.raises(ValueError, match=r'backbone\.layer2\.0\.conv2 is '
                                         r'mmcv\.ops\.ModulatedDeformConv2dPack'):
        export(DET, str(tmp_path / 'x.onnx'), shape=(64, 64), cfg_options=dcn)
    assert not (tmp_path / 'x.onnx').exists()


@pytest.mark.skipif(torch_compat.has_dynamo_onnx_export(), reason='this torch has the dynamo exporter')
def test_torch_without_the_dynamo_exporter_is_told_which_torch_has_it(tmp_path):
    with pytest.raises(RuntimeError, match=r'exporting an OpenMMLab model to ONNX needs '
                                           r'torch.onnx.export\(dynamo=True\).*torch >= 2.5 has it'):
        export(SEG, str(tmp_path / 'seg.onnx'), shape=(96, 128))
    assert not (tmp_path / 'seg.onnx').exists()
