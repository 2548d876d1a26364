"""codexbar's built-in usage sources, registered in the `codexbar.sources` entry-point group."""
