"""The official Portrait4D-v2 release in this project's modules: its network
pickles read without torch (`network_pickle`), its state-dict keys mapped
one to one onto the synthesizer's parameters (`generator_weights`), its
checkpoint files of any supported kind read (`checkpoint_files`), and the
PD-FGC motion extractor it drives the avatar with (`pdfgc_net`,
`pdfgc_crop`, `pdfgc_weights`)."""
