"""
One timbre, every pitch
=======================

A timbre space should hold timbre, not pitch. With ``pitch_mode="shift"``,
:class:`~perceptual_timbre.PerceptualVAE` moves every constant-Q frame along the
log-frequency axis into a pitch-normalized frame (4 bins per semitone for the default
``NSGTTransformer("cqt")``), so its latent coordinates describe the timbre and the pitch is
an explicit last column. Editing that column plays a timbre at any pitch -- here a flute
centroid played as a scale -- and latent paths between instruments morph the timbre at a
fixed pitch.
"""

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf
from sklearn.pipeline import Pipeline

from perceptual_timbre import PerceptualVAE
from perceptual_timbre.datasets import load_instrument_corpus
from perceptual_timbre.model import estimate_pitch, log_bins_per_octave
from perceptual_timbre.synthesis import interpolate_sounds
from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

try:  # audio players in notebooks and in the built documentation
    from IPython.display import Audio
except ImportError:
    Audio = None

FAST = os.environ.get("PERCEPTUAL_TIMBRE_FAST") == "1"
OUT = Path(os.environ.get("PERCEPTUAL_TIMBRE_OUTPUT") or tempfile.mkdtemp(prefix="timbre_"))
OUT.mkdir(parents=True, exist_ok=True)

# the bundled SoundFont, every other semitone from C3 to C6 (every third in fast mode), one
# dynamic; notes the SoundFont does not sound are skipped (listed in notes.skipped)
instruments = ["Flute", "Trumpet", "Cello", "Clarinet"] if FAST else None
notes = load_instrument_corpus("TimGM6mb", instruments=instruments,
                               pitches=range(48, 85, 3 if FAST else 2), velocities=(100,),
                               cache=False)
nsgt = NSGTTransformer("cqt", duration=0.5, n_iter=16 if FAST else 32).fit(notes.audio)
vae = PerceptualVAE(
    pitch_mode="shift",
    bins_per_octave=log_bins_per_octave(nsgt.frequencies_),  # 48.014 for this NSGT
    pull=0.1,  # notes of one instrument at different pitches: one timbre
    beta=0.1, input_noise=0.5, lr_schedule="cosine",
    max_epochs=40 if FAST else 400, random_state=0,
)
space = Pipeline([("nsgt", nsgt), ("log", LogMagnitude()), ("vae", vae)])
# the pitch of every note (MIDI) is routed to the VAE; estimate_pitch(audio) gives it for
# sounds of unknown pitch
space.fit(notes.audio, vae__pitch=notes.pitch, vae__groups=notes.instrument)
Z = space[-1].transform(space[:-1].transform(notes.audio), pitch=notes.pitch)
print(f"{len(notes.audio)} notes -> latent points of {Z.shape[1]} columns: "
      f"{Z.shape[1] - 1} timbre coordinates and the pitch")

# %%
# A centroid played as a scale
# ----------------------------
# The flute's timbre is the mean of its notes' timbre coordinates. Giving it the pitches of
# a C major scale over three octaves and decoding plays that one timbre at every pitch,
# including the pitches between the training notes.
flute = Z[notes.instrument == "Flute", :-1].mean(axis=0)
scale = np.array([48, 50, 52, 53, 55, 57, 59, 60, 62, 64, 65, 67, 69, 71, 72, 76, 79, 84])
if FAST:
    scale = scale[::3]
Z_scale = np.column_stack([np.tile(flute, (scale.size, 1)), scale])
frames = space[-1].inverse_transform(Z_scale)  # decoded log frames
audio = space.inverse_transform(Z_scale)  # one 0.5 s note per row

f0 = estimate_pitch(audio, nsgt.sr_)
print("f0 of the rendered notes, cents from the request:",
      np.round(100 * (f0 - scale)).astype(int))

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.pcolormesh(np.arange(scale.size), nsgt.frequencies_, frames.T, cmap="magma",
              shading="auto")
ax.set(yscale="log", ylim=(60, 8000), xticks=np.arange(scale.size), xlabel="MIDI pitch",
       ylabel="Hz", title="The flute centroid decoded along a scale")
ax.set_xticklabels(scale, fontsize=7)
fig.tight_layout()
plt.show()

fade = np.hanning(int(0.02 * nsgt.sr_))[: int(0.01 * nsgt.sr_)]
played = []
for note in audio:
    note = note.copy()
    note[: fade.size] *= fade
    note[-fade.size:] *= fade[::-1]
    played.append(note)
melody = np.concatenate(played)
sf.write(OUT / "flute_scale.wav", melody / np.max(np.abs(melody)), nsgt.sr_)
Audio(melody, rate=nsgt.sr_) if Audio else None

# %%
# Morph at a fixed pitch
# ----------------------
# A latent path between two instrument centroids given the same pitch column changes the
# timbre only: every point of the path keeps MIDI 60.
trumpet = Z[notes.instrument == "Trumpet", :-1].mean(axis=0)
a, b = np.r_[flute, 60.0], np.r_[trumpet, 60.0]
morph = interpolate_sounds(space, a, b, n_steps=8 if FAST else 32, duration=2.0)
pitch = morph.latent_path[:, -1]
print(f"pitch column along the path: {pitch.min():.3f} to {pitch.max():.3f}")
sf.write(OUT / "flute_to_trumpet_at_C4.wav", morph.audio / np.max(np.abs(morph.audio)),
         morph.sr)

fig, ax = plt.subplots(figsize=(7, 3.5))
ax.pcolormesh(np.arange(morph.frames.shape[0]), nsgt.frequencies_,
              np.log(morph.frames.T + 1e-6), cmap="magma", shading="auto")
ax.set(yscale="log", ylim=(60, 8000), xlabel="path step", ylabel="Hz",
       title="Flute -> Trumpet at MIDI 60: the harmonics stay put, their balance changes")
fig.tight_layout()
plt.show()

# %%
Audio(morph.audio, rate=morph.sr) if Audio else None
