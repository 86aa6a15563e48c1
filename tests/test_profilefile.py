"""Profile files: a user's own matrix, expanded, and every mistake refused naming the key or the name."""

import pytest

from hellotorch.profiles.named import build_profile


def _profile(tmp_path, text, devices=("cpu",)):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return build_profile(str(path), devices=devices)


def test_a_profile_file_is_the_cross_product_of_its_lists(tmp_path):
    profile = _profile(
        tmp_path,
        'models = ["mlp", "gpt"]\nbatch_sizes = [4, 8]\nseq_lens = [16, 32]\noptimizers = ["sgd", "adamw"]\n'
        'implementations = ["forloop", "fused"]\nmodes = ["eager", "default"]\ntasks = ["train", "lora"]\npairs = 5\n',
    )
    ids = [case.id for case in profile.cases]
    assert len(ids) == len(set(ids)) and profile.name == "mine" and profile.pairs == 5
    mlp = [c for c in profile.cases if c.model == "mlp"]
    gpt = [c for c in profile.cases if c.model == "gpt"]
    assert len(mlp) == 2 * 2 * 2 * 2 * 2 and {c.seq_len for c in mlp} == {0}  # the MLP has no sequence axis
    assert len(gpt) == 2 * 2 * 2 * 2 * 2 * 2 and {c.seq_len for c in gpt} == {16, 32}
    assert "train-cpu-gpt-b4-s16-sgd.forloop-float32-eager" in ids


def test_a_profile_file_waits_out_the_slow_thread_state_unless_told_not_to(tmp_path):
    assert _profile(tmp_path, 'models = ["mlp"]\n').measurement.state_wait_seconds == 60.0
    assert _profile(tmp_path, 'models = ["mlp"]\nstate_wait_seconds = 0.0\n').measurement.state_wait_seconds == 0.0


def test_combinations_pytorch_cannot_run_are_left_out(tmp_path):
    profile = _profile(
        tmp_path,
        'models = ["mlp"]\noptimizers = ["rmsprop"]\nimplementations = ["forloop", "fused"]\n'
        'modes = ["default", "reduce-overhead"]\n',
    )
    assert [(c.implementation, c.mode) for c in profile.cases] == [("forloop", "default")]


@pytest.mark.parametrize(
    "text, message",
    [
        ('models = ["mlp"]\nbatch_size = [8]\n', "unknown key 'batch_size'; the keys are: models, batch_sizes"),
        ("batch_sizes = [8]\n", "key 'models' is required"),
        ('models = ["resnet"]\n', "models: unknown model 'resnet'"),
        ('models = ["mlp"]\noptimizers = ["lion"]\n', "optimizers: unknown optimizer 'lion'"),
        ('models = ["mlp"]\nmodes = ["turbo"]\n', "modes has unknown 'turbo'"),
        ('models = ["mlp"]\ntasks = ["pretrain"]\n', "tasks has unknown 'pretrain'"),
        ('models = ["mlp"]\nbatch_sizes = [0]\n', "key 'batch_sizes' must hold positive numbers"),
        ('models = ["mlp"]\nbatch_sizes = "8"\n', "key 'batch_sizes' must be a non-empty list of int"),
        ("models = []\n", "key 'models' must be a non-empty list of str"),
        ('models = ["mlp"\n', "is not valid TOML"),
        ('models = ["mlp"]\ndevices = ["cuda"]\n', "the product is empty on device(s) cpu"),
        ('models = ["hello"]\ntasks = ["finetune"]\n', "the product is empty"),
        ('models = ["mlp"]\nstate_wait_seconds = -1.0\n', "key 'state_wait_seconds' must be a positive or zero float"),
        ('models = ["mlp"]\nmax_pair_seconds = 0.0\n', "key 'max_pair_seconds' must be a positive float"),
    ],
)
def test_a_bad_profile_file_is_refused_naming_the_key_or_name(tmp_path, text, message):
    with pytest.raises(ValueError, match=r"profile file .*mine\.toml") as caught:
        _profile(tmp_path, text)
    assert message in str(caught.value)


def test_a_missing_profile_file_is_bad_input(tmp_path, capsys):
    from hellotorch.cli import main

    assert main(["bench", "--profile", str(tmp_path / "nope.toml"), "--results", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_a_sequence_model_without_seq_lens_records_the_length_it_runs_at(tmp_path):
    from hellotorch.models import get_model_spec
    from hellotorch.profiles.named import build_profile

    path = tmp_path / "gpt.toml"
    path.write_text('models = ["gpt"]\nmodes = ["eager"]\n')
    case = {case.seq_len for case in build_profile(str(path)).cases}
    default = get_model_spec("gpt").default_config.seq_len
    assert case == {default} and default > 0
    assert all(f"-s{default}-" in case.id for case in build_profile(str(path)).cases)


def test_a_models_own_settings_reach_its_factory_and_its_records(tmp_path):
    from hellotorch.profiles.named import build_profile
    from hellotorch.training.loops import prepare

    path = tmp_path / "own.toml"
    path.write_text('models = ["examples.tiny_audio:make_spec"]\nmodes = ["eager"]\n[model_options]\nsamples = 64\n')
    (case,) = build_profile(str(path)).cases
    assert case.as_dict()["model_options"] == '{"samples": 64}'
    setup = prepare(case.run_config(), None)
    assert setup.batch[0].shape[-1] == 64  # the template reads config.option("samples", 256)


def test_model_options_must_be_a_table_of_plain_values(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('models = ["mlp"]\nmodel_options = [1, 2]\n')
    with pytest.raises(ValueError, match="model_options"):
        build_profile(str(path))
