namespace Stratum.Planning;

/// <summary>One published figure, what the planner predicts for it, and the relative error.</summary>
/// <remarks>
/// Kind is "prediction" (a run's outcome the model was not fitted to), "calibration" (a figure a catalog
/// parameter was set from) or "formula" (a closed-form result checked against the paper that states it).
/// </remarks>
public sealed record ValidationCase(string Name, string Quantity, double Published, double Predicted, double Error, string Kind, string Source, string Inputs)
{
    public bool Calibration => Kind == "calibration";

    public double AbsoluteError => Math.Abs(Error);
}

/// <summary>
/// The planner against published runs. Inputs are what each paper states (model shape, tokens, GPUs,
/// layout, network); nothing is tuned per case. Two cases are marked as calibration: they set the
/// A100 and H100 kernel efficiencies in the catalog, so their error says nothing about accuracy.
/// </summary>
public static class Validation
{
    public static IReadOnlyList<ValidationCase> Run(PlanningCatalog catalog)
    {
        var planner = new TrainingPlanner(catalog);
        var cases = new List<ValidationCase>();
        void Add(string name, string quantity, double published, double predicted, string source, string inputs, string kind = "prediction") =>
            cases.Add(new ValidationCase(name, quantity, published, Numbers.Round(predicted), Numbers.Round((predicted - published) / published), kind, source, inputs));

        TrainingPlan Train(TrainingRequest request)
        {
            var result = planner.Plan(request);
            return result.Plan ?? throw new InvalidOperationException($"validation case does not plan: {string.Join("; ", result.Errors)}");
        }

        // BLOOM-176B: BigScience 2022 (arXiv 2211.05100) and the model card; Jean Zay: 4 x 100 Gb/s Omni-Path per 8 GPUs.
        var bloom = Train(new TrainingRequest
        {
            Model = new ModelSpec { Parameters = 176.2e9, Layers = 70, Hidden = 14336, Heads = 112, Vocabulary = 250_880 },
            Tokens = 366e9,
            Gpu = "nvidia-a100-80gb",
            Gpus = 384,
            SequenceLength = 2048,
            GlobalBatchTokens = 2048 * 2048,
            TensorParallel = 4,
            PipelineParallel = 12,
            Recompute = Recompute.Full,
            InterNodeGBpsPerGpu = 6.25,
        });
        const string BloomInputs = "176B, 70 x 14336, 366B tokens, 384 x A100-80GB, TP4 PP12 DP8, full recompute, 6.25 GB/s per GPU";
        Add("BLOOM-176B", "GPU-hours", 1_082_990, bloom.GpuHours, "BigScience, BLOOM (arXiv 2211.05100) section 3.5 / model card", BloomInputs);
        Add("BLOOM-176B", "wall clock days", 118, bloom.WallClockDays, "model card: 2022-03-11 to 2022-07-06 (about 118 days)", BloomInputs);
        Add("BLOOM-176B", "checkpoint TB", 2.3, bloom.Storage.CheckpointTb, "bigscience tr11-176B README: 2.3 TB with bf16 weights and fp32 optimiser states (UNSURE whether TB or TiB)", "176B, 14 bytes per parameter");

        // OPT-175B: Zhang et al. 2022 (arXiv 2205.01068) section 2.4: 992 A100-80GB, FSDP with Megatron TP 8, up to 147 TFLOP/s per GPU.
        var opt = Train(new TrainingRequest
        {
            Model = new ModelSpec { Parameters = 175e9, Layers = 96, Hidden = 12288, Heads = 96, Vocabulary = 50_272 },
            Tokens = 180e9,
            Gpu = "nvidia-a100-80gb",
            Gpus = 992,
            SequenceLength = 2048,
            GlobalBatchTokens = 2e6,
            TensorParallel = 8,
            PipelineParallel = 1,
            ZeroStage = 3,
        });
        Add("OPT-175B", "TFLOP/s per GPU", 147, opt.Mfu * 312, "Zhang et al. 2022 (arXiv 2205.01068) section 2.4", "175B, 96 x 12288, 992 x A100-80GB, TP8, ZeRO-3 (FSDP), 2M-token batch");

        // GPT-3 175B: Brown et al. 2020 Table D.1 counts 6ND and leaves attention out, so compare both.
        var gpt3 = new ModelSpec { Parameters = 174.6e9, Layers = 96, Hidden = 12288, Heads = 96 }.Resolve();
        var gpt3Flops = 300e9 * (6 * gpt3.ActiveParameters + (12.0 * gpt3.Layers * gpt3.Hidden * 2048));
        Add("GPT-3 175B", "training FLOPs (6ND + attention)", 3.14e23, gpt3Flops, "Brown et al. 2020 (arXiv 2005.14165) Table D.1", "174.6B, 300B tokens, 96 x 12288, sequence 2048", kind: "formula");

        // Llama 3 405B: Dubey et al. 2024 (arXiv 2407.21783) Table 4 and section 3.3; the 8,192-GPU row is the H100 calibration.
        TrainingPlan Llama3(int gpus, int pipeline, double tokens) => Train(new TrainingRequest
        {
            Model = new ModelSpec { Parameters = 405e9, Layers = 126, Hidden = 16384, Heads = 128, KvHeads = 8, Vocabulary = 128_256 },
            Tokens = tokens,
            Gpu = "nvidia-h100-sxm",
            Gpus = gpus,
            SequenceLength = 8192,
            GlobalBatchTokens = 16 * 1024 * 1024,
            TensorParallel = 8,
            PipelineParallel = pipeline,
        });
        const string Llama3Source = "Dubey et al. 2024, The Llama 3 Herd of Models (arXiv 2407.21783) Table 4";
        Add("Llama 3 405B", "BF16 MFU at 8,192 GPUs", 0.43, Llama3(8192, 16, 15.6e12).Mfu, Llama3Source, "405B, 126 x 16384, TP8 PP16 DP64, 8K sequence, 16M-token batch", kind: "calibration");
        var llama3 = Llama3(16384, 16, 15.6e12);
        Add("Llama 3 405B", "BF16 MFU at 16,384 GPUs", 0.41, llama3.Mfu, Llama3Source, "405B, TP8 PP16 DP128");
        Add("Llama 3 405B", "H100 GPU-hours", 30.84e6, llama3.GpuHours, "Llama 3.1 model card (30.84M H100-80GB GPU-hours); 15.6T tokens from the paper", "405B, 15.6T tokens, 16,384 x H100");

        // Llama 2 70B and Llama 1 65B: GPU-hours from Touvron et al. 2023a/b; layouts not published, so the planner picks one.
        var llama2 = Train(new TrainingRequest
        {
            Model = new ModelSpec { Parameters = 70e9, Layers = 80, Hidden = 8192, Heads = 64, KvHeads = 8, Vocabulary = 32_000 },
            Tokens = 2e12,
            Gpu = "nvidia-a100-80gb",
            Gpus = 2048,
            SequenceLength = 4096,
            GlobalBatchTokens = 4 * 1024 * 1024,
            InterNodeGBpsPerGpu = 25,
        });
        Add("Llama 2 70B", "A100 GPU-hours", 1_720_320, llama2.GpuHours, "Touvron et al. 2023, Llama 2 (arXiv 2307.09288) Table 2", "70B, 80 x 8192, 2T tokens, 4K sequence, 200 Gb/s per GPU, GPU count not published (2,048 assumed)");

        var llama1 = Train(new TrainingRequest
        {
            Model = new ModelSpec { Parameters = 65.2e9, Layers = 80, Hidden = 8192, Heads = 64, Vocabulary = 32_000 },
            Tokens = 1.4e12,
            Gpu = "nvidia-a100-80gb",
            Gpus = 2048,
            SequenceLength = 2048,
            GlobalBatchTokens = 4 * 1024 * 1024,
            InterNodeGBpsPerGpu = 25,
        });
        Add("LLaMA 65B", "A100 GPU-hours", 1_022_362, llama1.GpuHours, "Touvron et al. 2023, LLaMA (arXiv 2302.13971) section 2.4 and Table 15", "65.2B, 80 x 8192, 1.4T tokens, 2,048 x A100-80GB");

        // DeepSeek-V3: arXiv 2412.19437, Table 1 (2.664M H800 GPU-hours of pre-training on 14.8T tokens), section 3:
        // 2,048 H800, FP8, 61 layers of 7168 (the first 3 dense), 4K sequence, batch up to 15,360 sequences,
        // PP16 x EP64 (8 nodes), node-limited routing to at most 4 nodes, 8 x 400 Gb/s InfiniBand per node.
        // DualPipe hides the all-to-all behind compute at the cost of 20 of 132 SMs; the planner keeps its
        // default (not hidden) rather than taking the claimed overlap, and does not model the SM cost.
        var deepseek = Train(new TrainingRequest
        {
            Model = new ModelSpec { Parameters = 671e9, ActiveParameters = 37e9, Layers = 61, Hidden = 7168, Heads = 128, Vocabulary = 129_280 },
            Tokens = 14.8e12,
            Gpu = "nvidia-h800",
            Gpus = 2048,
            Precision = Precision.Fp8,
            SequenceLength = 4096,
            GlobalBatchTokens = 15360 * 4096,
            PipelineParallel = 16,
            TensorParallel = 1,
            ExpertParallel = 64,
            ExpertCopiesPerToken = 4,
            MoeLayers = 58,
            InterNodeGBpsPerGpu = 50,
        });
        Add("DeepSeek-V3 671B MoE", "H800 GPU-hours", 2_664_000, deepseek.GpuHours, "DeepSeek-AI 2024, DeepSeek-V3 Technical Report (arXiv 2412.19437) Table 1 and section 3", "671B total / 37B active, 61 x 7168 (58 MoE), 14.8T tokens, 2,048 x H800, FP8, PP16 EP64, 4 nodes per token, 50 GB/s per GPU");

        // Megatron-LM 1T on 3,072 A100: Narayanan et al. 2021 Table 1, 163 TFLOP/s per GPU including full recomputation (the A100 calibration).
        var megatron = Train(new TrainingRequest
        {
            Model = new ModelSpec { Parameters = 1008e9, Layers = 128, Hidden = 25600, Heads = 160, Vocabulary = 51_200 },
            Tokens = 1e12,
            Gpu = "nvidia-a100-80gb",
            Gpus = 3072,
            SequenceLength = 2048,
            GlobalBatchTokens = 3072 * 2048,
            TensorParallel = 8,
            PipelineParallel = 64,
            Recompute = Recompute.Full,
            InterNodeGBpsPerGpu = 25,
        });
        Add("Megatron-LM 1T", "TFLOP/s per GPU incl. recompute", 163, megatron.Mfu * 312 * 4 / 3, "Narayanan et al. 2021 (arXiv 2104.04473) Table 1", "1T, 128 x 25600, TP8 PP64 DP6, full recompute", kind: "calibration");

        // ZeRO paper section 5 example: 7.5B parameters at data parallel 64.
        foreach (var (stage, published) in new[] { (0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9) })
        {
            var (w, g, o) = MemoryModel.ModelStates(7.5e9, 1, 1, 64, stage);
            Add("ZeRO 7.5B, DP 64", $"model-state GB, stage {stage}", published, (w + g + o) / Numbers.Giga, "Rajbhandari et al. 2020 (arXiv 1910.02054) Figure 1", "7.5B parameters, 64 GPUs, mixed-precision Adam", kind: "formula");
        }

        AddServing(catalog, Add);
        return cases;
    }

    /// <summary>
    /// Serving against published measurements whose setup is stated: model, GPU, tensor parallel degree,
    /// precision, input and output lengths and the batch or concurrency. Llama 2/3 70B share one shape
    /// (80 x 8192, 64 heads, 8 KV heads); FP8 means FP8 weights and KV cache (NVIDIA's ModelOpt checkpoints).
    /// </summary>
    private static void AddServing(PlanningCatalog catalog, Action<string, string, double, double, string, string, string> add)
    {
        var planner = new ServingPlanner(catalog);
        var llama70 = new ModelSpec { Parameters = 70.6e9, Layers = 80, Hidden = 8192, Heads = 64, KvHeads = 8, Vocabulary = 128_256 };
        ServingPlan Serve(string gpu, int gpus, int input, int output, int concurrency)
        {
            var result = planner.Plan(new ServingRequest
            {
                Model = llama70,
                Gpu = gpu,
                Gpus = gpus,
                Precision = Precision.Fp8,
                InputTokens = input,
                OutputTokens = output,
                Concurrency = concurrency,
            });
            return result.Plan ?? throw new InvalidOperationException($"serving validation case does not plan: {string.Join("; ", result.Errors)}");
        }

        // NVIDIA NIM for LLMs benchmarking guide, Llama-3.3-70B-Instruct NIM 1.8.0 on 2 x H100 80GB, FP8, TP2,
        // 5,000 input / 500 output tokens, measured with AIPerf at a fixed concurrency.
        const string Nim = "NVIDIA NIM LLM benchmarking, Performance (docs.nvidia.com/nim/benchmarking/llm/1.0.0/performance), Llama-3.3-70B NIM 1.8.0";
        var single = Serve("nvidia-h100-sxm", 2, 5000, 500, 1);
        add("Llama 3.3 70B serving", "2 x H100 FP8, 5000/500, concurrency 1: ms per output token", 18.58, single.TimePerOutputTokenMs, Nim, "TP2, FP8, concurrency 1", "prediction");
        add("Llama 3.3 70B serving", "2 x H100 FP8, 5000/500, concurrency 1: ms to first token", 406.77, single.TimeToFirstTokenMs, Nim, "TP2, FP8, concurrency 1", "prediction");
        var fifty = Serve("nvidia-h100-sxm", 2, 5000, 500, 50);
        add("Llama 3.3 70B serving", "2 x H100 FP8, 5000/500, concurrency 50: output tokens/s", 814.37, fifty.OutputTokensPerSecond, Nim, "TP2, FP8, concurrency 50", "prediction");

        // TensorRT-LLM performance overview (data from v0.9.0, static batching), LLaMA 70B on one H200, FP8, batch 64.
        const string Trt09 = "NVIDIA TensorRT-LLM docs, Performance Overview (nvidia.github.io/TensorRT-LLM/performance/perf-overview.html, v0.9.0 data), H200 FP8 table";
        add("Llama 2 70B serving", "1 x H200 FP8, 2048/2048, batch 64: output tokens/s", 1458, Serve("nvidia-h200", 1, 2048, 2048, 64).OutputTokensPerSecond, Trt09, "TP1, FP8, batch 64", "prediction");
        add("Llama 2 70B serving", "1 x H200 FP8, 2048/128, batch 64: output tokens/s", 418, Serve("nvidia-h200", 1, 2048, 128, 64).OutputTokensPerSecond, Trt09, "TP1, FP8, batch 64", "prediction");

        // TensorRT-LLM release 0.5.0 docs/source/performance.md (October 2023), LLaMA 70B on 4 x H100, FP8, batch 64.
        const string Trt05 = "NVIDIA TensorRT-LLM release/0.5.0 docs/source/performance.md, H100 FP8 table";
        add("Llama 2 70B serving", "4 x H100 FP8, 2048/2048, batch 64: output tokens/s (TRT-LLM 0.5)", 1583, Serve("nvidia-h100-sxm", 4, 2048, 2048, 64).OutputTokensPerSecond, Trt05, "TP4, FP8, batch 64", "prediction");
    }
}
