"""Bring your own generator: pytorch/examples' netG_epoch_N.pth (and kin) imported as a run.

The reference network below is pytorch/examples' dcgan/main.py Generator, with its globals made
arguments; the imported run must render the same images as that module for the same z."""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from safetensors.torch import save_file

from dcgan.runs.checkpoint import load_run_generator, resolve_generator
from dcgan.cli import main as cli_main
from dcgan.config import TrainConfig
from dcgan.analysis.views import interpolation, progression_gif
from dcgan.runs.importer import ImportFitError, import_generator, import_generator_file
from dcgan.sampling import z_from_seed
from dcgan.runs.rundir import RunDir, list_runs

from apptestkit import open_app


class ExamplesGenerator(nn.Module):
    """pytorch/examples dcgan/main.py's Generator (64 px), verbatim but for nz/ngf/nc as arguments."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3):
        super().__init__()
        self.main = nn.Sequential(
            # input is Z, going into a convolution
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8),
            nn.ReLU(True),
            # state size. (ngf*8) x 4 x 4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 8 x 8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 16 x 16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. (ngf) x 32 x 32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh()
            # state size. (nc) x 64 x 64
        )

    def forward(self, input):
        return self.main(input)


class MnistGenerator(nn.Module):
    """A common 28 px MNIST DCGAN: z -> (2*ngf) x 7 x 7 -> ngf x 14 x 14 -> nc x 28 x 28."""

    def __init__(self, nz: int = 64, ngf: int = 32, nc: int = 1):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 7, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


def trained_looking(net: nn.Module, seed: int = 0) -> nn.Module:
    """pytorch/examples' weights_init, then BatchNorm running stats that are not the defaults, so
    eval mode really uses them (a fresh net's mean 0 / var 1 would hide a mix-up)."""
    torch.manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.normal_(m.bias, 0.0, 0.1)
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(1234)
    return net.eval()


def reference_images(net: nn.Module, z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(z.view(z.shape[0], -1, 1, 1))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli_main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def examples_net() -> nn.Module:
    return trained_looking(ExamplesGenerator(nz=100, ngf=64, nc=3))


@pytest.fixture
def netg_file(tmp_path, examples_net) -> Path:
    path = tmp_path / "netG_epoch_0.pth"
    torch.save(examples_net.state_dict(), path)
    return path



def test_examples_netg_imports_and_renders_the_reference_images(tmp_path, capsys, netg_file, examples_net):
    ckpt = tmp_path / "checkpoints"
    rc, out, err = run_cli(capsys, "import", str(netg_file), "--checkpoints", str(ckpt))
    assert rc == 0, err
    assert "netG_epoch_0" in out and "64 px" in out
    run = RunDir(ckpt / "netG_epoch_0")  # the default name is the file's stem
    cfg = TrainConfig.load(run.config_path)
    assert (cfg.imported_from, cfg.image_size, cfg.channels, cfg.z_dim, cfg.g_width, cfg.kernel_size) == \
        ("netG_epoch_0.pth", 64, 3, 100, 64, 4)
    assert run.status()["state"] == "finished"
    assert [r.name for r in list_runs(ckpt)] == ["netG_epoch_0"]  # no temporary folder left behind

    G = load_run_generator(run)
    z = torch.cat([z_from_seed(s, 100) for s in range(8)])
    with torch.no_grad():
        ours = G(z)
    diff = (ours - reference_images(examples_net, z)).abs().max().item()
    assert diff < 1e-5, diff
    # and through the path the CLI's sample/interpolate commands take
    assert resolve_generator(run.path).z_dim == 100


def test_imported_run_has_what_every_page_reads(tmp_path, netg_file):
    result = import_generator(netg_file.read_bytes(), netg_file.name, tmp_path, "mine")
    run = result.run
    assert run.snapshot_steps() == [0]  # Progress: one frame
    assert run.metrics() == []
    assert np.load(run.fixed_z_path, allow_pickle=False).shape == (64, 100)
    assert json.loads(run.generator_config_path.read_text())["imported_from"] == "netG_epoch_0.pth"
    assert not run.checkpoint_path.exists()  # nothing to resume: the Train page's Resume stays off
    G = load_run_generator(run)
    assert interpolation(G, z_from_seed(1, 100)[0], z_from_seed(2, 100)[0], frames=4).frame_count == 4
    assert progression_gif(run)[:6] == b"GIF89a"


def test_dataparallel_prefix_and_nested_checkpoint_dict(tmp_path, capsys, examples_net):
    wrapped = OrderedDict(("module." + k, v) for k, v in examples_net.state_dict().items())
    torch.save({"epoch": 3, "netG": wrapped, "optimizerG": {"lr": 2e-4}}, tmp_path / "ckpt.pt")
    rc, out, err = run_cli(capsys, "import", str(tmp_path / "ckpt.pt"), "--run-name", "dp",
                           "--checkpoints", str(tmp_path / "c"))
    assert rc == 0, err
    z = z_from_seed(5, 100)
    with torch.no_grad():
        diff = (load_run_generator(RunDir(tmp_path / "c" / "dp"))(z) - reference_images(examples_net, z)).abs().max()
    assert diff < 1e-5


def test_mnist_28px_layout_and_safetensors_input(tmp_path, capsys):
    net = trained_looking(MnistGenerator(nz=64, ngf=32, nc=1), seed=1)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, tmp_path / "mnist_g.safetensors")
    rc, out, err = run_cli(capsys, "import", str(tmp_path / "mnist_g.safetensors"), "--checkpoints", str(tmp_path))
    assert rc == 0, err
    run = RunDir(tmp_path / "mnist_g")
    cfg = TrainConfig.load(run.config_path)
    assert (cfg.image_size, cfg.channels, cfg.z_dim, cfg.g_width) == (28, 1, 64, 32)
    z = torch.cat([z_from_seed(s, 64) for s in range(4)])
    with torch.no_grad():
        diff = (load_run_generator(run)(z) - reference_images(net, z)).abs().max().item()
    assert diff < 1e-5


def test_bare_sequential_with_5x5_kernels_at_32px(tmp_path):
    # a Sequential saved on its own has keys "0.weight", ...; our own 5x5 geometry round-trips
    from dcgan.nets.models import Generator
    ours = Generator(z_dim=16, image_size=32, channels=3, width=8, kernel_size=5).eval()
    result = import_generator(_save(ours.main.state_dict()), "seq.pth", tmp_path)
    assert (result.model.image_size, result.model.kernel_size, result.model.g_width) == (32, 5, 8)
    z = z_from_seed(0, 16)
    with torch.no_grad():
        assert torch.equal(load_run_generator(result.run)(z), ours(z))



def _save(obj) -> bytes:
    import io
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _cli_error(tmp_path, capsys, obj, name: str = "bad.pth") -> str:
    path = tmp_path / name
    if isinstance(obj, bytes):
        path.write_bytes(obj)
    else:
        torch.save(obj, path)
    rc, out, err = run_cli(capsys, "import", str(path), "--checkpoints", str(tmp_path / "c"))
    assert rc == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line
    assert list_runs(tmp_path / "c") == []  # nothing half-written
    return err


def test_wrong_shape_names_the_tensor(tmp_path, capsys, examples_net):
    sd = dict(examples_net.state_dict())
    sd["main.3.weight"] = torch.zeros(512, 128, 4, 4)
    err = _cli_error(tmp_path, capsys, sd)
    assert "main.3.weight has shape (512, 128, 4, 4); expected (512, 256, 4, 4)" in err


def test_wrong_or_missing_key(tmp_path, capsys, examples_net):
    sd = dict(examples_net.state_dict())
    sd["main.0.bias"] = torch.zeros(512)
    assert "main.0.bias is not expected" in _cli_error(tmp_path, capsys, sd)
    sd = dict(examples_net.state_dict())
    del sd["main.4.running_var"]
    assert "main.4.running_var is missing" in _cli_error(tmp_path, capsys, sd)
    sd = {"fc.weight": torch.zeros(10, 100), **examples_net.state_dict()}
    assert "'fc.weight' does not fit" in _cli_error(tmp_path, capsys, sd)


def test_widths_read_off_one_tensor_do_not_build_a_huge_generator(tmp_path, capsys):
    # the last layer alone claims width 200,000: G would need ~10^13 weights, the file has 4 MB
    sd = dict(ExamplesGenerator(nz=8, ngf=4, nc=1).state_dict())
    sd["main.12.weight"] = torch.zeros(200_000, 1, 4, 4)
    assert "main.0.weight has shape (8, 32, 4, 4); expected (8, 1600000, 4, 4)" in _cli_error(tmp_path, capsys, sd)


def test_unsupported_size_kernel_and_no_convs(tmp_path, capsys):
    # 3x3 first map and four doublings: 48 px
    net = ExamplesGenerator(nz=8, ngf=4, nc=1)
    net.main[0] = nn.ConvTranspose2d(8, 32, 3, 1, 0, bias=False)
    assert "image size 48 is not supported" in _cli_error(tmp_path, capsys, net.state_dict())
    net = ExamplesGenerator(nz=8, ngf=4, nc=1)
    net.main[12] = nn.ConvTranspose2d(4, 1, 3, 2, 1, bias=False)
    assert "3x3 kernels" in _cli_error(tmp_path, capsys, net.state_dict())
    assert "no ConvTranspose2d weights found" in _cli_error(tmp_path, capsys, {"main.1.weight": torch.ones(4)})


def test_pickled_module_is_never_unpickled(tmp_path, capsys):
    # a whole pickled module (torch.save(netG)) would run code on load: weights_only refuses it
    err = _cli_error(tmp_path, capsys, ExamplesGenerator(nz=8, ngf=4, nc=1))
    assert "holds a pickled" in err and "ExamplesGenerator" in err and "not unpickled" in err
    assert "neither a torch.save file" in _cli_error(tmp_path, capsys, b"not a checkpoint at all")


def test_existing_run_name_is_refused(tmp_path, capsys, netg_file):
    assert run_cli(capsys, "import", str(netg_file), "--checkpoints", str(tmp_path))[0] == 0
    rc, out, err = run_cli(capsys, "import", str(netg_file), "--checkpoints", str(tmp_path))
    assert rc == 2 and "already exists" in err
    rc, out, err = run_cli(capsys, "import", str(netg_file), "--run-name", "../x", "--checkpoints", str(tmp_path))
    assert rc == 2 and "bad run name" in err
    with pytest.raises(ImportFitError, match="no file"):
        import_generator_file(tmp_path / "missing.pth", tmp_path)



@pytest.fixture
def app_root(tmp_path, app_env) -> Path:
    """The app's checkpoints folder, empty (not even created): an import is its first run."""
    root = tmp_path / "checkpoints"
    app_env(root)
    return root


def _upload(at, name: str, data: bytes, run_name: str = "") -> None:
    at.file_uploader(key="import_file_0").set_value((name, data, "application/octet-stream"))
    at.text_input(key="import_run_name").set_value(run_name)
    at.button(key="FormSubmitter:import_form-Import").click().run()
    assert not at.exception, at.exception


def test_app_upload_imports_selects_and_every_page_opens_the_run(app_root):
    net = trained_looking(ExamplesGenerator(nz=16, ngf=8, nc=3))
    at = open_app("train")  # an empty folder: the import is offered beside the first run's form
    _upload(at, "netG_epoch_7.pth", _save(net.state_dict()), "uploaded")
    assert at.selectbox(key="run").value == "uploaded"
    assert any("Imported netG_epoch_7.pth as run **uploaded**" in s.value for s in at.success)
    assert any("imported from" in c.value for c in at.sidebar.caption)
    assert not [e.value for e in at.error]
    cfg = TrainConfig.load(app_root / "uploaded" / "config.json")
    assert (cfg.image_size, cfg.channels, cfg.z_dim, cfg.g_width) == (64, 3, 16, 8)

    at.switch_page("explorer/latent.py").run()
    assert not at.exception and not [e.value for e in at.error]
    assert len(at.slider) == 16
    at.switch_page("explorer/interpolate.py").run()
    at.number_input(key="interp_frames").set_value(4)
    at.button(key="FormSubmitter:interp_form-Interpolate").click().run()
    assert not at.exception and not [e.value for e in at.error]
    assert at.session_state["interp_result"]["frames"] == 4
    at.switch_page("explorer/progress.py").run()
    assert not at.exception and not [e.value for e in at.error]
    assert "step 0" in at.get("image")[0].captions[0]
    at.switch_page("explorer/train.py").run()
    assert not at.exception and not [e.value for e in at.error]


def test_app_upload_of_a_mismatched_file_is_an_error_message(app_root):
    sd = dict(trained_looking(ExamplesGenerator(nz=16, ngf=8, nc=3)).state_dict())
    sd["main.3.weight"] = torch.zeros(64, 8, 4, 4)
    at = open_app("train")
    _upload(at, "netG_bad.pth", _save(sd))
    assert any("Cannot import netG_bad.pth: main.3.weight has shape (64, 8, 4, 4); expected (64, 32, 4, 4)" in e.value
               for e in at.error)
    assert list_runs(app_root) == []
