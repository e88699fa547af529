"""On-policy rollouts: the prefill kept for the loss, the sampler, and the folded adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from traj.prompt import chat_text
from traj.train import SdftConfig, SdftTrainer, TrainingExample
from traj.train._rollout import draw, pack, response_logits, sample

QUERIES = [
    f"Goal: open item {i}\nPage: {' '.join(f'[{j}] link Item {j}' for j in range(i * 3))}\nNext:" for i in range(4)
]


@pytest.fixture
def trainer(model_dir) -> SdftTrainer:
    """A trainer whose student and teacher adapters are not zero (so folding them changes the weights)."""
    trainer = SdftTrainer(model_dir, SdftConfig(rank=4, lora_alpha=8, max_new_tokens=12), total_steps=2)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in trainer.model.named_parameters():
            if ".student." in name or ".teacher." in name:
                parameter.copy_(0.05 * torch.randn(parameter.shape, generator=generator))
    return trainer


def _prompts(trainer: SdftTrainer) -> list[list[int]]:
    return [trainer._encode(chat_text(trainer.tokenizer, q)) for q in QUERIES]


@pytest.mark.parametrize("fold", [False, True], ids=["lora-layers", "folded"])
def test_response_logits_and_gradients_equal_one_forward_over_prompt_and_response(trainer, fold):
    """The split forward (prefill with graph, then the response over its cache), through the LoRA
    layers or the folded student, against one forward through the LoRA layers."""
    trainer._fold = fold
    torch.manual_seed(0)
    with trainer._adapter_forwards("student"):
        rollout = trainer._sample(QUERIES, keep_graph=True)
        split = response_logits(trainer.model, rollout, trainer.tokenizer.pad_token_id)
    assert max(map(len, rollout.responses)) > 1  # the response forward runs more than the prompt's last token
    whole = trainer._response_logits(trainer._batch(QUERIES, rollout.responses))
    assert split.shape == whole.shape == (len(QUERIES), max(map(len, rollout.responses)), split.shape[-1])
    assert torch.allclose(split, whole, atol=1e-4), (split - whole).abs().max()

    weights = torch.randn(split.shape, generator=torch.Generator().manual_seed(1))
    (split * weights).sum().backward()
    split_grads = [p.grad.clone() for p in trainer.student_parameters]
    trainer.optimizer.zero_grad(set_to_none=True)
    (whole * weights).sum().backward()
    for got, expected in zip(split_grads, (p.grad for p in trainer.student_parameters), strict=True):
        assert expected.abs().max() > 0
        assert torch.allclose(got, expected, rtol=1e-3, atol=1e-5 * float(expected.abs().max()))
    assert all(p.grad is None for n, p in trainer.model.named_parameters() if ".student." not in n)


def test_greedy_sampling_equals_generate_including_rows_that_stop_early(trainer):
    prompts = _prompts(trainer)
    batch = pack(prompts, [[] for _ in prompts], trainer.tokenizer.pad_token_id)
    pad = trainer.tokenizer.pad_token_id
    free = sample(trainer.model, batch, max_new_tokens=12, temperature=0.0, eos=-1, pad=pad, keep_graph=False)
    stop = free.responses[0][3]  # a token row 0 produces at step 4: it ends that row there, maybe others too
    with torch.no_grad():
        generated = trainer.model.generate(
            input_ids=batch.ids,
            attention_mask=batch.mask,
            max_new_tokens=12,
            do_sample=False,
            pad_token_id=pad,
            eos_token_id=stop,
        )[:, batch.ids.shape[1] :].tolist()
    expected = [row[: row.index(stop) + 1] if stop in row else row for row in generated]
    stopped = sample(trainer.model, batch, max_new_tokens=12, temperature=0.0, eos=stop, pad=pad, keep_graph=False)
    assert stopped.responses == expected
    assert len(stopped.responses[0]) <= 4 and max(map(len, stopped.responses)) == 12


def test_a_one_token_prompt_samples_without_a_prefill(trainer):
    pad = trainer.tokenizer.pad_token_id
    batch = pack([[5], [9]], [[], []], pad)
    rollout = sample(trainer.model, batch, max_new_tokens=6, temperature=0.0, eos=-1, pad=pad, keep_graph=False)
    with torch.no_grad():
        generated = trainer.model.generate(input_ids=batch.ids, max_new_tokens=6, do_sample=False, pad_token_id=pad)
    assert rollout.responses == generated[:, 1:].tolist()


def test_sampling_at_a_temperature_follows_the_torch_seed(trainer):
    torch.manual_seed(5)
    first = trainer.rollouts(QUERIES, temperature=1.0)
    torch.manual_seed(5)
    assert trainer.rollouts(QUERIES, temperature=1.0) == first
    assert trainer.rollouts(QUERIES, temperature=1.0) != first


def test_rollouts_sample_in_eval_mode_and_restore_the_mode(trainer):
    modes = []
    hook = (
        trainer.model.get_base_model()
        .model.layers[0]
        .register_forward_hook(lambda module, args, output: modes.append(module.training))
    )
    trainer.model.train()
    try:
        trainer.rollouts(QUERIES[:2], temperature=0.0)
    finally:
        hook.remove()
    assert modes and not any(modes)
    assert trainer.model.training


def test_a_folded_adapter_gives_the_adapters_logits_and_is_put_back_exactly(trainer):
    ids = torch.tensor([_prompts(trainer)[2]])
    modules = dict(trainer.model.named_modules())
    weights = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.model.eval()
    with torch.no_grad():
        with trainer.model.disable_adapter():
            base = trainer.model(input_ids=ids).logits
        for adapter in ("student", "teacher"):
            trainer.model.set_adapter(adapter)
            unfolded = trainer.model(input_ids=ids).logits
            with trainer._adapter_forwards(adapter):
                assert not any("lora" in name for name, _ in trainer.model.named_modules())
                folded = trainer.model(input_ids=ids).logits
            assert torch.allclose(folded, unfolded, atol=1e-5)
            assert not torch.allclose(folded, base, atol=1e-3)
    trainer.model.set_adapter("student")
    trainer._freeze_teacher()
    assert dict(trainer.model.named_modules()) == modules
    assert all(torch.equal(p, weights[name]) for name, p in trainer.model.named_parameters())
    assert {n for n, p in trainer.model.named_parameters() if p.requires_grad} == {
        n for n in weights if ".student." in n
    }


@pytest.mark.parametrize(
    "loss_of", [SdftTrainer._sdft_loss, SdftTrainer._sft_loss, SdftTrainer._dpo_loss], ids=["sdft", "sft", "dpo"]
)
def test_a_model_too_large_to_fold_samples_and_scores_the_same_through_its_lora_layers(trainer, loss_of):
    """Above FOLD_LIMIT_BYTES the whole loss runs through the LoRA layers instead: same tokens,
    same loss, same gradients, for every objective (DPO's reference pass is the base model)."""
    examples = [
        TrainingExample(
            query=q,
            teacher_query=f"Demonstration: CLICK 1\n{q}",
            target='{"kind":"CLICK","target":"1"}',
            rejected='{"kind":"TYPE","target":"2","value":"x"}',
        )
        for q in QUERIES
    ]
    results = []
    for fold in (True, False):
        trainer._fold = fold
        torch.manual_seed(7)
        loss, tokens = (found := loss_of(trainer, examples)).value, found.tokens
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        results.append((float(loss.detach()), tokens, [p.grad.clone() for p in trainer.student_parameters]))
        assert {n for n, p in trainer.model.named_parameters() if p.requires_grad} == {
            n for n, _ in trainer.model.named_parameters() if ".student." in n
        }
    (folded_loss, folded_tokens, folded_grads), (lora_loss, lora_tokens, lora_grads) = results
    assert folded_tokens == lora_tokens
    assert folded_loss > 0 and lora_loss == pytest.approx(folded_loss, rel=1e-4)
    for got, expected in zip(folded_grads, lora_grads, strict=True):
        assert torch.allclose(got, expected, rtol=1e-3, atol=1e-5 * float(expected.abs().max()))


def _gpt2_checkpoint(model_dir: Path, path: Path) -> Path:
    """A 2-layer GPT-2 (dropout 0.1 in its embeddings, attention and residuals) with the tiny tokenizer."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=512, n_embd=64, n_layer=2, n_head=2)
    config.pad_token_id, config.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    config.bos_token_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _llama_with_attention_dropout(model_dir: Path, path: Path) -> Path:
    """The tiny Llama with ``attention_dropout`` 0.5 (read as a float by its attention layers)."""
    import shutil

    shutil.copytree(model_dir, path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "attention_dropout": 0.5}))
    return path


@pytest.mark.parametrize(
    ("checkpoint", "targets"), [(_gpt2_checkpoint, ("c_attn",)), (_llama_with_attention_dropout, ("q_proj",))]
)
def test_dropout_is_off_while_training(model_dir, tmp_path, checkpoint, targets):
    """Rollouts are sampled in train mode (the shared prefill): with dropout on, two identical
    train-mode forwards would differ, and the samples would not come from the trained policy."""
    config = SdftConfig(rank=4, lora_alpha=8, target_modules=targets)
    trainer = SdftTrainer(checkpoint(model_dir, tmp_path / "model"), config, total_steps=1)
    trainer.model.train()
    ids = torch.tensor([trainer._encode(chat_text(trainer.tokenizer, QUERIES[1]))])
    with torch.no_grad():
        first, second = (trainer.model(input_ids=ids).logits for _ in range(2))
    assert torch.equal(first, second)


def test_a_model_whose_layers_do_not_fold_trains_through_its_lora_layers(model_dir, tmp_path):
    """GPT-2 keeps its projections in Conv1D (the weight stored transposed): not folded, still trained."""
    config = SdftConfig(rank=4, lora_alpha=8, learning_rate=1e-2, target_modules=("c_attn",), max_new_tokens=6)
    trainer = SdftTrainer(_gpt2_checkpoint(model_dir, tmp_path), config, total_steps=2)
    assert not trainer._fold
    before = [p.detach().clone() for p in trainer.student_parameters]
    examples = [TrainingExample(query=q, teacher_query=f"Demonstration: CLICK 1\n{q}", target="") for q in QUERIES]
    metrics = trainer.step(examples)
    assert metrics.response_tokens > 0 and metrics.grad_norm > 0
    assert any(not torch.equal(p, b) for p, b in zip(trainer.student_parameters, before, strict=True))


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_draws_follow_the_softmax_at_the_temperature(temperature):
    logits = torch.tensor([[0.0, 1.0, 2.0, -1.0, 0.5]]).repeat(40_000, 1)
    torch.manual_seed(0)
    counts = torch.bincount(draw(logits, temperature), minlength=5).float() / logits.shape[0]
    expected = torch.softmax(logits[0] / temperature, -1)
    assert torch.allclose(counts, expected, atol=0.01), (counts, expected)
    assert draw(logits[:3], 0.0).tolist() == [2, 2, 2]
