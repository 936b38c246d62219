import json
from types import SimpleNamespace

import pytest
import torch

from graphsbr import ConfigError, DataError, TrainingError, load_dataset
from graphsbr.train import TrainConfig, Trainer
from graphsbr.train.recommend import recommend
from graphsbr.train.trainer import LAST_KEYS, SCORE_ELEMENTS, exclusive

from .tiny import Tiny, TinyConfig, tiny_trainer


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", num_items=200, num_sessions=1500)


trainer = tiny_trainer


def test_fit_writes_a_complete_run_and_learns(data, tmp_path):
    results = trainer(data, tmp_path / "run").fit()
    for name in ("config.yaml", "metrics.jsonl", "best.pt", "last.pt", "results.json"):
        assert (tmp_path / "run" / name).is_file()
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    for key in ("model", "dataset", "protocol", "seed", "best_epoch", "epochs_run", "valid", "test",
                "train_seconds", "train_samples_per_second", "eval_seconds", "peak_rss_mb", "num_parameters",
                "machine", "config"):
        assert key in saved
    assert set(saved["test"]) == {f"{m}@{k}" for m in ("hr", "mrr", "ndcg") for k in (5, 10, 20)}
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"]
    assert saved["valid"]["mrr@20"] == max(h["valid"]["mrr@20"] for h in history)
    assert saved["test"]["hr@20"] > 0.1
    ranks = torch.load(tmp_path / "run" / "ranks.pt", weights_only=True)["test"]
    assert ranks.dtype == torch.int32 and ranks.numel() == data.test.num_samples and ranks.min() >= 1
    assert (ranks <= 20).double().mean().item() == pytest.approx(saved["test"]["hr@20"])
    assert torch.where(ranks <= 20, 1.0 / ranks.double(), 0.0).mean().item() == pytest.approx(saved["test"]["mrr@20"])


def test_same_seed_same_results_json_metrics(data, tmp_path):
    trainer(data, tmp_path / "a").fit()
    trainer(data, tmp_path / "b").fit()
    a, b = (json.loads((tmp_path / run / "results.json").read_text()) for run in "ab")
    assert (a["valid"], a["test"], a["best_epoch"]) == (b["valid"], b["test"], b["best_epoch"])
    assert trainer(data, seed=1).fit()["test"] != a["test"]  # the seed matters, so the check can fail


def test_resume_continues_to_the_same_result(data, tmp_path):
    full = trainer(data, tmp_path / "full").fit()
    trainer(data, tmp_path / "cut", epochs=1).fit()  # stops after one epoch, as a killed run would
    (tmp_path / "cut" / "results.json").unlink()
    resumed = trainer(data, tmp_path / "cut", epochs=3)
    resumed.model.embedding.reset_parameters()  # whatever the fresh model holds, the checkpoint wins
    again = resumed.fit(resume=True)
    assert again["test"] == full["test"] and again["best_epoch"] == full["best_epoch"]
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_a_resumed_run_without_its_best_weights_fails_rather_than_report_the_last_epoch(data, tmp_path):
    trainer(data, tmp_path / "run", lr=0.0, epochs=1).fit()  # lr 0: no later epoch can beat epoch 1
    (tmp_path / "run" / "results.json").unlink()
    (tmp_path / "run" / "best.pt").unlink()
    with pytest.raises(TrainingError, match=r"best.pt is missing: the weights of the selected epoch 1"):
        trainer(data, tmp_path / "run", lr=0.0, epochs=3).fit(resume=True)


def test_an_existing_run_is_not_overwritten(data, tmp_path):
    trainer(data, tmp_path / "run", epochs=1).fit()
    with pytest.raises(ConfigError, match="already holds a run"):
        trainer(data, tmp_path / "run").fit()
    with pytest.raises(ConfigError, match="no run to resume"):
        trainer(data, tmp_path / "other").fit(resume=True)


def test_budget_stops_after_the_first_epoch(data):
    results = trainer(data, budget_minutes=1e-6).fit()
    assert results["epochs_run"] == 1 and results["stopped"] == "budget"


def test_early_stopping(data):
    results = trainer(data, lr=0.0, epochs=10, patience=2).fit()
    assert results["epochs_run"] == 3 and results["best_epoch"] == 1 and results["stopped"] == "patience"


def test_a_run_cut_by_its_epoch_cap_says_so(data):
    results = trainer(data, epochs=2, patience=5).fit()
    assert results["epochs_run"] == 2 and results["stopped"] == "epochs"


def test_non_finite_loss_stops_with_a_clear_error(data, tmp_path):
    run = trainer(data, tmp_path / "run", epochs=2)
    run.fit()
    bad = trainer(data, tmp_path / "run", epochs=3)
    with torch.no_grad():
        bad.model.embedding.weight.fill_(float("nan"))
    original = bad.model.loss

    def nan_loss(batch):
        loss, parts = original(batch)
        return loss * float("nan"), parts

    bad.model.loss = nan_loss
    with pytest.raises(TrainingError, match="non-finite loss"):
        bad.fit(resume=True)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] == 2


def test_epoch_steps_slice_a_pass_into_epochs(data):
    whole = trainer(data, epochs=1)
    whole.fit()
    steps = len(whole._train_loader())
    halves = trainer(data, epochs=2, epoch_steps=(steps + 1) // 2)
    results = halves.fit()
    assert results["epochs_run"] == 2 and halves.steps == steps == whole.steps
    # no dropout draws in evaluation and no lr decay: two half epochs train exactly as one full one
    assert torch.equal(halves.model.embedding.weight, whole.model.embedding.weight)


def test_callbacks_see_every_epoch_record_and_the_running_loss_and_can_stop_the_run(data):
    class Recorder:
        def __init__(self, stop_after=None):
            self.records, self.losses, self.stop_after = [], [], stop_after

        def on_epoch_end(self, trainer, record):
            self.records.append(record)
            if len(self.records) == self.stop_after:
                raise KeyboardInterrupt("pruned")

        def on_loss(self, trainer, step, losses):
            self.losses.append((step, losses["loss"]))

    recorder = Recorder()
    run = trainer(data, epochs=2, epoch_steps=6, log_every=3, callbacks=[recorder, object()])  # no handlers: fine
    run.fit()
    assert recorder.records == run.history and [r["epoch"] for r in recorder.records] == [1, 2]
    assert [step for step, _ in recorder.losses] == [3, 6, 9, 12]
    assert all(loss == loss and loss > 0 for _, loss in recorder.losses)
    stopper = Recorder(stop_after=1)
    with pytest.raises(KeyboardInterrupt, match="pruned"):
        trainer(data, epochs=3, callbacks=[stopper]).fit()
    assert len(stopper.records) == 1


def test_resume_in_the_middle_of_a_pass(data, tmp_path):
    settings = {"epoch_steps": 7, "lr_step": 1, "lr_gamma": 0.5}
    full = trainer(data, tmp_path / "full", epochs=5, **settings).fit()
    trainer(data, tmp_path / "cut", epochs=2, **settings).fit()
    (tmp_path / "cut" / "results.json").unlink()
    again = trainer(data, tmp_path / "cut", epochs=5, **settings).fit(resume=True)
    assert again["test"] == full["test"] and again["best_epoch"] == full["best_epoch"]
    history = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [h["lr"] for h in history] == [json.loads(line)["lr"] for line in
                                          (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]


def test_lr_step_counts_passes_when_an_epoch_is_a_slice(data):
    steps = len(trainer(data)._train_loader())
    run = trainer(data, epochs=4, epoch_steps=(steps + 1) // 2, lr_step=1, lr_gamma=0.5)
    run.fit()
    assert [h["lr"] for h in run.history] == [0.01, 0.005, 0.005, 0.0025]  # halved after each whole pass
    whole = trainer(data, epochs=2, lr_step=1, lr_gamma=0.5)
    whole.fit()
    assert [h["lr"] for h in whole.history] == [0.005, 0.0025]  # an epoch is a pass: as torch's StepLR


class LearningRates:
    """Records the learning rate of every step (``log_every=1``)."""

    def __init__(self):
        self.rates = []

    def on_loss(self, trainer, step, means):
        self.rates.append(trainer.optimizer.param_groups[0]["lr"])


def test_warmup_grows_the_rate_linearly_then_hands_over_to_the_schedule(data, tmp_path):
    steps = len(trainer(data)._train_loader())
    rates = LearningRates()
    settings = {"epochs": 3, "epoch_steps": 3, "warmup_steps": 4, "lr_step": 1, "lr_gamma": 0.5, "log_every": 1}
    trainer(data, callbacks=[rates], **settings).fit()
    expected = [0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01]
    assert steps > 9 and rates.rates == pytest.approx(expected)  # the warm-up ends inside the second epoch
    trainer(data, tmp_path, **{**settings, "epochs": 1}).fit()  # stopped inside the warm-up: resumes it there
    (tmp_path / "results.json").unlink()
    rates = LearningRates()
    trainer(data, tmp_path, callbacks=[rates], **settings).fit(resume=True)
    assert rates.rates == pytest.approx(expected[3:])


def test_grad_clip_records_the_mean_norm_before_clipping_and_the_share_clipped(data, monkeypatch):
    norms = []
    clip = torch.nn.utils.clip_grad_norm_

    def recording(parameters, max_norm):
        norm = clip(parameters, max_norm)
        norms.append(float(norm))
        return norm

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording)
    run = trainer(data, epochs=2, epoch_steps=4, grad_clip=1e9)
    run.fit()
    assert len(norms) == 8 and min(norms) > 0
    assert [h["grad_norm"] for h in run.history] == pytest.approx([sum(norms[:4]) / 4, sum(norms[4:]) / 4])
    assert [h["clipped"] for h in run.history] == [0.0, 0.0]
    norms.clear()
    run = trainer(data, epochs=2, epoch_steps=4, grad_clip=1e-9)
    run.fit()
    assert [h["clipped"] for h in run.history] == [1.0, 1.0]
    assert [h["grad_norm"] for h in run.history] == pytest.approx([sum(norms[:4]) / 4, sum(norms[4:]) / 4])
    run = trainer(data, epochs=1, epoch_steps=2)
    run.fit()
    assert "grad_norm" not in run.history[0] and "clipped" not in run.history[0]  # no clipping, no record


def test_every_epoch_records_the_machine_it_ran_on(data, tmp_path, monkeypatch):
    from graphsbr.train import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "processor_name", lambda: "Old CPU")
    trainer(data, tmp_path, epochs=1, threads=1).fit()
    (tmp_path / "results.json").unlink()
    monkeypatch.setattr(trainer_module, "processor_name", lambda: "New CPU")  # the run moves, then resumes
    results = trainer(data, tmp_path, epochs=2, threads=2).fit(resume=True)
    history = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [h["machine"]["cpu"] for h in history] == ["Old CPU", "New CPU"]
    assert [h["machine"]["threads"] for h in history] == [1, 2]
    assert results["machine"] == {"cpu": "New CPU", "threads": 2, "torch": torch.__version__}


def test_the_processor_name_is_the_cpu_model():
    from graphsbr.train.trainer import processor_name

    name = processor_name()
    assert isinstance(name, str) and name and name != "unknown"


def test_every_epoch_records_the_steps_and_samples_so_far(data):
    run = trainer(data, epochs=3, epoch_steps=5)
    run.fit()
    assert [h["steps"] for h in run.history] == [5, 10, 15]
    assert [h["samples"] for h in run.history] == [5 * 64, 10 * 64, 15 * 64]  # batches of 64, none cut short


def test_patience_counts_passes_when_an_epoch_is_a_slice(data):
    steps = len(trainer(data)._train_loader())
    run = trainer(data, lr=0.0, epochs=10, patience=1, epoch_steps=(steps + 1) // 2)
    results = run.fit()
    # nothing improves after epoch 1; the run stops once a whole pass went by since it, i.e. after epoch 3
    assert results["best_epoch"] == 1 and results["epochs_run"] == 3 and results["stopped"] == "patience"
    assert results["steps"] == run.history[-1]["steps"] and results["steps"] - run.history[0]["steps"] >= steps


class Remembering(Tiny):
    """Tiny with a memory of training sessions that counts its refreshes."""

    uses_memory = True

    def refresh_memory(self, batches):
        self.refreshes = getattr(self, "refreshes", 0) + 1


def test_the_memory_is_refreshed_only_when_the_weights_changed(data):
    torch.manual_seed(0)
    model = Remembering.from_dataset(data)
    Trainer(model, data, TrainConfig(epochs=2, batch_size=64, progress=False)).fit()
    # epoch 1 (train, valid), epoch 2 (valid; its training reuses the memory of the weights just validated),
    # then the selected epoch's weights (valid; the test split reuses it)
    assert model.refreshes == 4


def test_negative_epoch_steps_is_refused(data):
    with pytest.raises(ConfigError, match="epoch_steps"):
        trainer(data, epoch_steps=-1)


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_holds_it(data, tmp_path):
    out = tmp_path / "run"
    with exclusive(out), pytest.raises(TrainingError, match="in use by another run"):  # as a running trainer holds it
        trainer(data, out, epochs=1).fit()
    assert not (out / "last.pt").exists()
    trainer(data, out, epochs=1).fit()  # free again once the holder is done (or killed: the OS drops the lock)


def test_a_truncated_checkpoint_is_reported_by_name(data, tmp_path):
    trainer(data, tmp_path / "run", epochs=1).fit()
    last = tmp_path / "run" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    with pytest.raises(DataError, match=r"last\.pt: not a readable checkpoint"):
        trainer(data, tmp_path / "run", epochs=2).fit(resume=True)


def test_a_foreign_checkpoint_is_reported_by_name(data, tmp_path):
    trainer(data, tmp_path / "run", epochs=1).fit()
    last = tmp_path / "run" / "last.pt"
    torch.save({"weights": torch.zeros(3)}, last)
    with pytest.raises(DataError, match=r"last\.pt: not a graphsbr checkpoint"):
        trainer(data, tmp_path / "run", epochs=2).fit(resume=True)
    state = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    state["model"]["embedding.weight"] = torch.zeros(7, 16)  # another catalogue
    torch.save({**state, **{k: None for k in LAST_KEYS if k != "model"}}, last)
    with pytest.raises(DataError, match="another model, dataset or setting"):
        trainer(data, tmp_path / "run", epochs=2).fit(resume=True)


def test_evaluation_batches_shrink_for_a_large_catalogue(data):
    run = trainer(data, eval_batch_size=512)
    assert run.eval_batch_size() == 512
    run.dataset = SimpleNamespace(num_items=400_000)
    assert run.eval_batch_size() == SCORE_ELEMENTS // 400_001 < 512


def test_a_checkpoint_write_cut_short_keeps_the_last_good_one(data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    trainer(data, out, epochs=1).fit()
    good = torch.load(out / "last.pt", weights_only=True)

    def killed_mid_write(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # as a kill would stop the process here

    monkeypatch.setattr(torch, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        trainer(data, out, epochs=2).fit(resume=True)
    monkeypatch.undo()
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == good["epoch"] == 1
    (out / ".last.pt.left-by-a-kill.tmp").write_bytes(b"partial")
    resumed = trainer(data, out, epochs=2).fit(resume=True)
    assert resumed["epochs_run"] == 2 and not list(out.glob(".*.tmp"))


def test_recommend_guards_its_input_and_cuts_long_sessions(data):
    model = trainer(data).model
    with pytest.raises(DataError, match="empty"):
        recommend(model, data, [])
    with pytest.raises(DataError, match=r"unknown item id\(s\) 0, 201"):
        recommend(model, data, [3, 0, 201])
    with pytest.raises(DataError, match="k must be"):
        recommend(model, data, [3], k=0)
    long = [1 + i % 200 for i in range(10_000)]
    items, scores = recommend(model, data, long, k=5)
    assert (items, scores) == recommend(model, data, long[-model.max_len:], k=5)  # cut to max_len as in training
    assert len(items) == 5 and 0 not in items and scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("with_folder", [True, False])
def test_results_are_those_of_the_selected_epoch(data, tmp_path, with_folder):
    run = trainer(data, tmp_path / "run" if with_folder else None, epochs=4, lr=0.05)
    results = run.fit()
    best = max(run.history, key=lambda h: h["valid"]["mrr@20"])
    assert results["best_epoch"] == best["epoch"]
    assert results["valid"] == pytest.approx(best["valid"])  # the selected epoch's weights, not the last epoch's


def test_amp_setting_is_checked_and_applies_on_cuda_only(data, caplog):
    from graphsbr.train.trainer import amp_dtype

    assert amp_dtype("off") is None and amp_dtype(False) is None
    assert amp_dtype("bf16") is torch.bfloat16 and amp_dtype(True) is torch.bfloat16
    assert amp_dtype("fp16") is torch.float16
    with pytest.raises(ConfigError, match="amp"):
        amp_dtype("fp8")
    with caplog.at_level("WARNING"):
        trainer = Trainer(Tiny(TinyConfig(), data.num_items), data, TrainConfig(amp="fp16", progress=False))
    assert trainer.amp is None and "CUDA only" in caplog.text
    assert not trainer.scaler.is_enabled()


def test_batches_prepared_ahead_train_to_the_same_result(data):
    plain, ahead = trainer(data, prefetch=0), trainer(data, prefetch=2)
    assert plain.fit()["test"] == ahead.fit()["test"]
    assert torch.equal(plain.model.embedding.weight, ahead.model.embedding.weight)
