"""A tiny Llama-architecture chat model built offline: random weights, a tokenizer trained here.

Tests and `tunebot demo --local` train it for real on the CPU in seconds. It is a real model
folder (config, safetensors, tokenizer with a chat template), so everything that loads it
(`from_pretrained`, TRL, PEFT, the vLLM emulator) takes the code paths a real model takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIAL = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]
# Assistant turns inside {% generation %}: transformers can then mask everything else out of
# the loss (return_assistant_tokens_mask), the way real instruct templates mark them.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}"
    "{% else %}{{ message['content'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
BASE_TEXT = (
    "The team meets on Monday. Deploys happen on Tuesday after lunch. "
    "Ask in the help channel when something breaks. Coffee is on the third floor. "
    "회의는 월요일에 합니다. 배포는 화요일 점심 이후에 합니다. 커피는 삼층에 있습니다. "
    "Hello, how are you? I am fine, thank you. What time is it? It is noon. "
)


def build_tiny_model(
    folder: Path, *, extra_text: Iterable[str] = (), vocab_size: int = 600, seed: int = 0
) -> Path:
    """Write a tiny Llama chat model to `folder` and return it; needs tunebot[train]."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    corpus = [BASE_TEXT, *extra_text]
    raw.train_from_iterator(
        corpus * 4,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=SPECIAL,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=SPECIAL[4:],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    return folder


def build_in_hub_cache(
    cache: Path, repo_id: str, *, extra_text: Iterable[str] = (), revision: str = "0" * 40
) -> Path:
    """Build the tiny model into a Hugging Face hub cache (HF_HUB_CACHE) as `repo_id`, laid
    out as a download leaves it (refs/main naming a snapshot), so `from_pretrained(repo_id)`
    finds it with HF_HUB_OFFLINE=1. Returns the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = build_tiny_model(repo / "snapshots" / revision, extra_text=extra_text)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot
