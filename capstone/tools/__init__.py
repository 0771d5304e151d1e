"""What a developer or a batch user runs beside the pipeline, never a cluster: the runner and notebook renderer
(`runner`), the testing-summary deck (`slides`) and the benchmarks (`bench_extract`, `bench_ingest`,
`bench_match`, `bench_pipeline`). Each comes with its own extra (`run`, `slides`, `bench`); the pipeline's stages
import none of it."""
