"""The training set: aligned real/fake face clips from `track_pairs.txt`, with compression and image augmentation.

Each item is `(pair_index, sample_seed)`; all randomness of an item comes from its seed, so a batch is the same
whatever the number of loader workers, and a resumed run sees exactly the batches an uninterrupted run would.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from .augment import FramePipeline, compress_clips, decoded_frame_indices, draw_compression_params, seeded
from .clips import TRACK_LENGTH

COMPRESSION_P = 0.5
FRAME_MODEL_FRAMES = tuple(range(9, 38, 4))     # 9, 13, ..., 37: each frame its own sample
SEQUENCE_MODEL_FRAMES = tuple(range(19, 32, 2))  # 19, 21, ..., 31: one 7-frame sequence


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'cannot read {path}')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class TrackPairDataset(Dataset):
    """`(real, fake, target)`: float tensors F x 3 x 224 x 192, transformed as the published dataset did, and NaN
    (the target is the mixup weight drawn in the training loop).

    Items past the pairs are single clips (`labels.csv` data: videos without a pairing), returned as
    `(clip, clip, label)`: mixing a clip with itself leaves it as it is, and the loop trains it on its label.
    `single_slots` is how many items of an epoch are singles (default: one per single clip); with another number
    each slot picks a clip at random (from its sample seed), to set the ratio of singles to pairs.

    The real clip's frames are transformed first, then the state of Python's `random` is rewound and the fake
    clip's frames replay the same draws, so frame k of the fake gets frame k of the real's transform (torch's
    generator, and so the random-erasing noise, is not rewound). `sequence=False`: each of the F frames draws
    its own transform. `sequence=True`: the state is rewound before every frame, so all F frames of both clips
    share one transform.
    """

    def __init__(self, clips_root: Path, pairs: Sequence[tuple[str, str]], frames: Sequence[int],
                 pipeline: FramePipeline, sequence: bool = False, compression_p: float = COMPRESSION_P,
                 pix_fmt: str | None = None, singles: Sequence[tuple[str, int]] = (), single_slots: int | None = None):
        self.clips_root, self.pairs, self.frames = Path(clips_root), list(pairs), tuple(frames)
        self.pipeline, self.sequence, self.compression_p, self.pix_fmt = pipeline, sequence, compression_p, pix_fmt
        self.singles = list(singles)
        self.single_slots = len(self.singles) if single_slots is None else single_slots
        if self.single_slots and not self.singles:
            raise ValueError('single slots need single clips')

    def __len__(self) -> int:
        return len(self.pairs) + self.single_slots

    def load_frames(self, clips: Sequence[str]) -> tuple[list[np.ndarray], ...]:
        """The wanted RGB frames of each clip (the real and the fake one of a pair), re-encoded together with the
        same random settings with probability 0.5."""
        folders = [self.clips_root / clip for clip in clips]
        params = draw_compression_params(self.pix_fmt, self.compression_p)
        if params is not None:
            first = cv2.imread(str(folders[0] / '0.png'))
            if first is None:
                raise FileNotFoundError(f'cannot read {folders[0] / "0.png"}')
            decoded = compress_clips(folders, params, *first.shape[:2])
            return tuple([clip[k] for k in decoded_frame_indices(self.frames, len(clip), TRACK_LENGTH)]
                         for clip in decoded)
        return tuple([read_rgb(folder / f'{i}.png') for i in self.frames] for folder in folders)

    def transform_clip(self, frames: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """The training transform of one clip's frames; in sequence mode every frame replays the same state."""
        if not self.sequence:
            return [self.pipeline.train(frame) for frame in frames]
        state = random.getstate()
        tensors = []
        for frame in frames:
            random.setstate(state)
            tensors.append(self.pipeline.train(frame))
        return tensors

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index, sample_seed = key
        if index >= len(self.pairs):
            slot = index - len(self.pairs)
            if self.single_slots != len(self.singles):
                slot = random.Random(sample_seed).randrange(len(self.singles))
            clip, label = self.singles[slot]
            with seeded(sample_seed):
                frames, = self.load_frames([clip])
                tensors = torch.stack(self.transform_clip(frames))
            return tensors, tensors, torch.tensor(float(label))
        with seeded(sample_seed):
            real, fake = self.load_frames(self.pairs[index])
            state = random.getstate()
            real_t = self.transform_clip(real)
            random.setstate(state)
            fake_t = self.transform_clip(fake)
        return torch.stack(real_t), torch.stack(fake_t), torch.tensor(float('nan'))


class InfiniteBatchSampler(Sampler):
    """Batches of `(index, sample_seed)` from an endless stream of epochs, each epoch shuffled by a
    DistributedSampler (`set_epoch`), so ranks see disjoint parts; `start_batch` resumes the stream.

    As the published loader (`shuffle=True, drop_last=True`, a new DataLoader per epoch), an epoch yields only
    whole batches and the rest of its order is dropped; with fewer items than one batch (tiny data sets, where
    the published loop would spin without a batch) batches run on into the next epoch instead.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 start_batch: int = 0):
        if num_items < 1:
            raise ValueError('no items to sample from')
        self.sampler = DistributedSampler(range(num_items), num_replicas=world_size, rank=rank, shuffle=True,
                                          seed=seed, drop_last=False)
        self.batch_size, self.seed, self.start_batch = batch_size, seed, start_batch
        self.per_epoch = len(self.sampler)
        self.batches_per_epoch = self.per_epoch // batch_size

    def _epoch(self, epoch: int) -> list[int]:
        self.sampler.set_epoch(epoch)
        return list(self.sampler)

    def _seed(self, epoch: int, offset: int) -> int:
        # The seed depends on where the sample sits in this rank's stream, not on any worker's state.
        stream_position = epoch * self.per_epoch + offset
        return (self.seed * 1_000_003 + self.sampler.rank * 7_919 + stream_position * 104_729) % 2 ** 31

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        if self.batches_per_epoch:
            batch_index = self.start_batch
            while True:
                epoch, within = divmod(batch_index, self.batches_per_epoch)
                order = self._epoch(epoch)
                for offset in range(within * self.batch_size, self.batches_per_epoch * self.batch_size,
                                    self.batch_size):
                    yield [(order[k], self._seed(epoch, k)) for k in range(offset, offset + self.batch_size)]
                    batch_index += 1
        position = self.start_batch * self.batch_size
        epoch, offset = divmod(position, self.per_epoch)
        order = self._epoch(epoch)
        while True:
            batch = []
            while len(batch) < self.batch_size:
                if offset == self.per_epoch:
                    epoch, offset = epoch + 1, 0
                    order = self._epoch(epoch)
                batch.append((order[offset], self._seed(epoch, offset)))
                offset += 1
            yield batch

    def __len__(self) -> int:
        return 2 ** 62
