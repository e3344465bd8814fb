"""Simulation: MuJoCo rendering on the CPU, metaworld tasks and the Shadow hand."""
