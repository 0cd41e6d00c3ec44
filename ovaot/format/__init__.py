"""The .ovpkg format both sides share: the manifest (what a package holds), the archive's writer and reader
(checked members, in place from a memory map), and the manifest's signature. The runtime uses it without the
compiler."""
