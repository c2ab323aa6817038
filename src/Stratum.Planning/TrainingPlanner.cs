using System.Globalization;

namespace Stratum.Planning;

/// <summary>
/// Sizes training and fine-tuning: compute, the smallest parallel layout that fits memory, the step
/// time with its communication, utilisation, goodput, wall clock or GPU count, storage, power and cost.
/// Pure: the catalog and the request in, a plan (or the reasons there is none) out.
/// </summary>
public sealed class TrainingPlanner(PlanningCatalog catalog)
{
    /// <summary>Usable share of device memory; the rest goes to the CUDA context, NCCL buffers and fragmentation.</summary>
    public const double UsableMemoryFraction = 0.9;

    /// <summary>
    /// Kernel efficiency falls for narrow layers: efficiency x h / (h + 512). 512 is set so the
    /// 1.7B (h = 2304) and 1T (h = 25600) rows of Narayanan et al. 2021 Table 1 differ as reported (44% vs 52%).
    /// </summary>
    public const double HiddenHalfEfficiency = 512;

    /// <summary>
    /// FP8 runs reach this fraction of their (2x) peak relative to BF16: published end-to-end FP8 speedups
    /// over BF16 are about 1.3-1.5x (NVIDIA Transformer Engine documentation; DeepSeek-V3 report), i.e. 0.7 x 2.
    /// </summary>
    public const double Fp8RelativeEfficiency = 0.7;

    /// <summary>Selective recomputation costs 1.3-2.7% extra (Korthikanti et al. 2022 Table 4); full adds a forward pass (4/3).</summary>
    public const double SelectiveRecomputeOverhead = 1.02;

    private const int MaxGpus = 1 << 20;

    public PlanResult<TrainingPlan> Plan(TrainingRequest request)
    {
        var errors = request.Validate();
        if (errors.Count > 0)
        {
            return PlanResult<TrainingPlan>.Fail(errors);
        }

        var accelerator = catalog.Find(request.Gpu, out var unknown);
        if (accelerator is null)
        {
            return PlanResult<TrainingPlan>.Fail("gpu", unknown!);
        }

        var context = new Context(request, accelerator, request.Model.Resolve());
        if (request.Gpus is { } gpus)
        {
            var estimate = context.Best(gpus);
            if (estimate is null)
            {
                return PlanResult<TrainingPlan>.Fail("gpus", context.WhyNothingFits(gpus));
            }

            if (!double.IsFinite(context.WallHours(estimate)))
            {
                return PlanResult<TrainingPlan>.Fail("gpus", "the run would not finish in any meaningful time with these inputs (check the bandwidth and sizes)");
            }

            return PlanResult<TrainingPlan>.Ok(context.Build(catalog, estimate));
        }

        return PlanForDeadline(context, request.DeadlineDays!.Value);
    }

    private PlanResult<TrainingPlan> PlanForDeadline(Context context, double deadlineDays)
    {
        // Wall clock falls (almost) monotonically with GPUs until data parallelism runs out of batch:
        // double whole servers until the deadline is met, then bisect between the last two counts.
        var unit = (int)context.Accelerator.GpusPerServer.Required;
        Estimate? fastest = null;
        Estimate? met = null;
        var low = 0;
        var high = 0;
        foreach (var small in new[] { 1, 2, 4 }.Where(g => g < unit))
        {
            if (context.Best(small) is { } e && context.WallDays(e) <= deadlineDays)
            {
                return PlanResult<TrainingPlan>.Ok(context.Build(catalog, e));
            }
        }

        for (var servers = 1; servers * unit <= MaxGpus; servers *= 2)
        {
            var estimate = context.Best(servers * unit);
            if (estimate is null)
            {
                low = servers;
                continue;
            }

            if (fastest is null || context.WallDays(estimate) < context.WallDays(fastest))
            {
                fastest = estimate;
            }

            if (context.WallDays(estimate) <= deadlineDays)
            {
                met = estimate;
                high = servers;
                break;
            }

            low = servers;
        }

        if (met is null)
        {
            var why = fastest is null
                ? context.WhyNothingFits(unit)
                : !double.IsFinite(context.WallDays(fastest))
                ? "the run would not finish in any meaningful time with these inputs (check the bandwidth and sizes)"
                : $"no number of {context.Accelerator.Name} GPUs meets {deadlineDays:0.##} days: the fastest found is " +
                  $"{context.WallDays(fastest):0.#} days on {fastest.Gpus} GPUs ({fastest.Layout}); data parallelism is capped " +
                  $"by the global batch of {context.BatchSequences} sequences. Raise the batch, lower the tokens or extend the deadline.";
            return PlanResult<TrainingPlan>.Fail("deadline", why);
        }

        while (high - low > 1)
        {
            var middle = (low + high) / 2;
            var estimate = context.Best(middle * unit);
            if (estimate is not null && context.WallDays(estimate) <= deadlineDays)
            {
                met = estimate;
                high = middle;
            }
            else
            {
                low = middle;
            }
        }

        return PlanResult<TrainingPlan>.Ok(context.Build(catalog, met));
    }

    /// <summary>The performance and memory of one layout at one GPU count.</summary>
    private sealed record Estimate(int Gpus, ParallelLayout Layout, MemoryBreakdown Memory, StepBreakdown Step, double Mfu, double Goodput)
    {
        public ParallelLayout? Smallest { get; init; }
    }

    private sealed class Context
    {
        private readonly TrainingRequest _request;
        private readonly ResolvedModel _model;
        private readonly double _flopsPerToken;
        private readonly double _kernelEfficiency;
        private readonly double _peak;
        private readonly List<string> _assumptions = [];
        private readonly List<string> _formulas = [];

        public Context(TrainingRequest request, Accelerator accelerator, ResolvedModel model)
        {
            _request = request;
            _model = model;
            Accelerator = accelerator;
            BatchSequences = Math.Max(1, (int)Math.Round(request.GlobalBatchTokens / request.SequenceLength));
            _peak = accelerator.PeakTflops(request.Precision) * Numbers.Tera;
            var fp8 = request.Precision == Precision.Fp8 && accelerator.Supports(Precision.Fp8);
            _kernelEfficiency = accelerator.TrainingEfficiency.Required * model.Hidden / (model.Hidden + HiddenHalfEfficiency)
                * (fp8 ? Fp8RelativeEfficiency : 1);
            _flopsPerToken = request.Flops is { } flops ? flops / request.Tokens : FlopsPerToken(model, request.SequenceLength, request.Method);
            Describe(fp8);
        }

        public Accelerator Accelerator { get; }

        public int BatchSequences { get; }

        private bool IsLora => _request.Method is TrainingMethod.Lora or TrainingMethod.Qlora;

        /// <summary>
        /// Training FLOPs per token: 6N for the weight matrices (2 forward, 4 backward; Kaplan et al. 2020)
        /// plus 12·L·h·s for attention scores and values (Chowdhery et al. 2022, PaLM appendix B). LoRA skips
        /// the weight gradients of the frozen matrices: 4N + 8·L·h·s.
        /// </summary>
        public static double FlopsPerToken(ResolvedModel model, int sequence, TrainingMethod method)
        {
            var attention = 12.0 * model.Layers * model.Hidden * sequence;
            return method is TrainingMethod.Lora or TrainingMethod.Qlora
                ? (4 * model.ActiveParameters) + (attention * 2 / 3)
                : (6 * model.ActiveParameters) + attention;
        }

        public double WallDays(Estimate e) => WallHours(e) / 24;

        public double WallHours(Estimate e) => _request.Tokens * _flopsPerToken / (e.Gpus * _peak * e.Mfu) / 3600 / e.Goodput;

        /// <summary>
        /// Among the layouts that fit memory at <paramref name="gpus"/>, the fastest (what an engineer
        /// would run) and the smallest model-parallel one (what the issue asks to report); null when none fits.
        /// </summary>
        public Estimate? Best(int gpus)
        {
            var usable = Accelerator.MemoryGb.Required * UsableMemoryFraction;
            Estimate? fastest = null;
            ParallelLayout? smallest = null;
            foreach (var (t, p) in Candidates(gpus))
            {
                var estimate = Fit(gpus, t, p, usable);
                if (estimate is null)
                {
                    continue;
                }

                smallest ??= estimate.Layout;
                if (fastest is null || estimate.Mfu > fastest.Mfu * (1 + 1e-9))
                {
                    fastest = estimate;
                }
            }

            return fastest is null ? null : fastest with { Smallest = smallest! };
        }

        private Estimate? Fit(int gpus, int t, int p, double usable)
        {
            var d = gpus / (t * p);
            var memory = Memory(t, p, d, 0);
            if (memory.TotalGb <= usable)
            {
                return Evaluate(gpus, t, p, memory, 0);
            }

            if (_request.Recompute != Recompute.Auto)
            {
                return null;
            }

            // Fully recompute just enough layers: each saves the difference between a selective layer
            // (34sbh/t) and a checkpointed input (2sbh/t).
            var perLayerSaving = (MemoryModel.ActivationBytesPerLayer(_request.SequenceLength, 1, _model.Hidden, _model.Heads, t, Recompute.Selective)
                - MemoryModel.ActivationBytesPerLayer(_request.SequenceLength, 1, _model.Hidden, _model.Heads, t, Recompute.Full)) / Numbers.Giga;
            var layers = (int)Math.Ceiling((memory.TotalGb - usable) / perLayerSaving);
            if (layers > _model.Layers)
            {
                return null;
            }

            var fitted = Memory(t, p, d, layers);
            return fitted.TotalGb <= usable ? Evaluate(gpus, t, p, fitted, layers) : null;
        }

        public string WhyNothingFits(int gpus)
        {
            var candidates = Candidates(gpus).ToList();
            var usable = Accelerator.MemoryGb.Required * UsableMemoryFraction;
            if (candidates.Count == 0)
            {
                return $"{gpus} GPUs cannot be split into tensor x pipeline x data parallel groups for this model " +
                       $"(tensor parallel up to {(int)Accelerator.GpusPerServer.Required} dividing {_model.Heads} heads, pipeline up to {_model.Layers} layers, " +
                       $"data parallel at most the {BatchSequences} sequences of a batch); try a multiple of {(int)Accelerator.GpusPerServer.Required}";
            }

            var tightest = candidates.Select(c => Memory(c.Tensor, c.Pipeline, gpus / (c.Tensor * c.Pipeline), _request.Recompute == Recompute.Auto ? _model.Layers : 0)).MinBy(m => m.TotalGb)!;
            var hint = IsLora || _request.ZeroStage >= 3
                ? "use a GPU with more memory or more GPUs"
                : "try --zero 3, --recompute full, a GPU with more memory or more GPUs";
            return $"the model does not fit {gpus} x {Accelerator.Name} ({usable:0.#} GB usable each) at any tensor/pipeline/data parallel layout: " +
                   $"the best needs {tightest.TotalGb:0.#} GB per GPU ({tightest.WeightsGb:0.#} weights, {tightest.GradientsGb:0.#} gradients, " +
                   $"{tightest.OptimizerGb:0.#} optimiser, {tightest.ActivationsGb:0.#} activations); {hint}";
        }

        public TrainingPlan Build(PlanningCatalog catalog, Estimate e)
        {
            var hours = WallHours(e);
            var lostPerFailure = (_request.CheckpointIntervalHours / 2) + _request.RestartHours;
            var costs = CostModel.Compare(catalog, Accelerator, e.Gpus, hours, _request.DeadlineDays, _request.SpotInterruptionsPerInstanceHour, lostPerFailure);
            var power = CostModel.Power(catalog, Accelerator, e.Gpus, hours, _request.GridKgCo2PerKwh);
            var storage = Storage();
            var warnings = new List<string>();
            if (e.Step.NetworkBound)
            {
                warnings.Add($"the network is the bottleneck: {e.Step.Bottleneck}");
            }

            if (_request.Precision == Precision.Fp8 && !Accelerator.Supports(Precision.Fp8))
            {
                warnings.Add($"{Accelerator.Name} has no FP8 mode; planned at BF16 peak");
            }

            if (_model.IsMixtureOfExperts && _request.ExpertParallel is { } askedEp && askedEp > e.Step.ExpertParallel)
            {
                warnings.Add($"expert parallelism {askedEp} exceeds the data-parallel degree of the chosen layout ({e.Layout}); planned at EP {e.Step.ExpertParallel}. Fix --pp/--tp to keep it");
            }

            if (catalog.Servers.TryGetValue(Accelerator.Name, out var server) && server.ServerKw.Value > catalog.OnPrem.RackKwLimit.Value)
            {
                warnings.Add($"one {Accelerator.Name} server ({server.ServerKw} kW) exceeds the {catalog.OnPrem.RackKwLimit} kW rack limit; racks counted as one server each");
            }

            if (costs.Count == 0)
            {
                warnings.Add($"the catalog has no prices for {Accelerator.Name}; add an offer or a server price");
            }

            var total = _request.Tokens * _flopsPerToken;
            return new TrainingPlan(
                Accelerator.Name,
                e.Gpus,
                _request.Precision.Name(),
                MethodName(_request.Method),
                _model.Parameters,
                _model.ActiveParameters,
                _request.Tokens,
                Numbers.Round(total),
                Numbers.Round(_flopsPerToken),
                Numbers.Round(e.Mfu),
                Numbers.Round(e.Goodput),
                Numbers.Round(e.Mfu * e.Goodput * _peak / Numbers.Tera),
                Numbers.Round(hours * e.Gpus),
                Numbers.Round(hours / 24),
                _request.DeadlineDays,
                e.Memory.TotalGb,
                Accelerator.MemoryGb.Required,
                e.Memory,
                e.Layout,
                e.Smallest ?? e.Layout,
                e.Step,
                storage,
                power,
                costs,
                CostModel.Cheapest(costs),
                _model,
                new Working(_formulas, _assumptions.Concat(_model.Derived.Select(d => "derived: " + d)).ToList(), warnings));
        }

        private static string MethodName(TrainingMethod method) => method switch
        {
            TrainingMethod.FullFineTune => "full fine-tune",
            TrainingMethod.Lora => "lora",
            TrainingMethod.Qlora => "qlora",
            _ => "pretrain",
        };

        private IEnumerable<(int Tensor, int Pipeline)> Candidates(int gpus)
        {
            var maxTensor = (int)Accelerator.GpusPerServer.Required;
            var candidates = new List<(int Tensor, int Pipeline)>();
            for (var t = 1; t <= maxTensor; t *= 2)
            {
                if (_request.TensorParallel is { } fixedT && fixedT != t)
                {
                    continue;
                }

                if (_model.Heads % t != 0)
                {
                    continue;
                }

                for (var p = 1; p <= _model.Layers; p++)
                {
                    if ((_request.PipelineParallel is { } fixedP && fixedP != p) || gpus % (t * p) != 0)
                    {
                        continue;
                    }

                    var d = gpus / (t * p);
                    if (d <= BatchSequences)
                    {
                        candidates.Add((t, p));
                    }
                }
            }

            // Smallest model-parallel group first; at equal size prefer tensor parallelism on the fast
            // scale-up links over pipeline stages, which add a bubble (Narayanan et al. 2021, section 3.3).
            return candidates.OrderBy(c => c.Tensor * c.Pipeline).ThenBy(c => c.Pipeline);
        }

        private MemoryBreakdown Memory(int t, int p, int d, int fullyRecomputedLayers)
        {
            double weights, gradients, optimizer;
            if (IsLora)
            {
                // Frozen weights (bf16, or 4-bit for QLoRA) plus full mixed-precision Adam state for the adapters only.
                var frozenBytes = _request.Method == TrainingMethod.Qlora ? 0.5 : 2;
                var adapters = LoraParameters();
                var states = MemoryModel.ModelStates(adapters, t, p, d, _request.ZeroStage);
                weights = (frozenBytes * _model.Parameters / (t * p)) + states.Weights;
                gradients = states.Gradients;
                optimizer = states.Optimizer;
            }
            else if (_model.IsMixtureOfExperts && ExpertParallelDegree(d) > 1)
            {
                // Experts (about total - active parameters) are split over the EP ranks, the rest is
                // replicated; the optimiser shards over all d ranks either way (experts are replicated
                // d/ep times and ZeRO shards each copy over those d/ep), so it sees the total.
                var perRank = ParametersPerExpertRank(d);
                (weights, gradients, _) = MemoryModel.ModelStates(perRank, t, p, d, _request.ZeroStage);
                (_, _, optimizer) = MemoryModel.ModelStates(_model.Parameters, t, p, d, _request.ZeroStage);
            }
            else
            {
                (weights, gradients, optimizer) = MemoryModel.ModelStates(_model.Parameters, t, p, d, _request.ZeroStage);
            }

            var activations = MemoryModel.ActivationBytes(_model, _request.SequenceLength, t, _request.Recompute, fullyRecomputedLayers);
            var total = weights + gradients + optimizer + activations;
            return new MemoryBreakdown(
                Numbers.Round(weights / Numbers.Giga), Numbers.Round(gradients / Numbers.Giga), Numbers.Round(optimizer / Numbers.Giga),
                Numbers.Round(activations / Numbers.Giga), Numbers.Round(total / Numbers.Giga));
        }

        /// <summary>Rank-r adapters on the four attention and two MLP matrices (h x h and h x 4h): r·(8h + 10h) per layer.</summary>
        private double LoraParameters() => _request.LoraRank * 18.0 * _model.Hidden * _model.Layers;

        private Estimate Evaluate(int gpus, int t, int p, MemoryBreakdown memory, int fullyRecomputedLayers)
        {
            var d = gpus / (t * p);
            var microBatches = Math.Max(1, BatchSequences / d);
            var chunks = p > 1 ? Math.Clamp(_model.Layers / p, 1, 4) : 1;
            var stepTokens = (double)microBatches * d * _request.SequenceLength;
            var stepFlops = _flopsPerToken * stepTokens;
            var recompute = _request.Recompute switch
            {
                Recompute.Full => 4.0 / 3,
                Recompute.Selective => SelectiveRecomputeOverhead,
                Recompute.Auto => SelectiveRecomputeOverhead + (fullyRecomputedLayers / (3.0 * _model.Layers)),
                _ => 1.0,
            };

            // 1. Compute at the kernel efficiency of this GPU, precision and layer width.
            var compute = stepFlops * recompute / (gpus * _peak * _kernelEfficiency);

            // 2. Interleaved 1F1B pipeline bubble: (p - 1) / (m·v) of compute (Narayanan et al. 2021, eq. 2).
            var bubble = compute * (p - 1) / (microBatches * (double)chunks);

            // 3. Tensor parallelism: per layer and micro-batch, 2 all-reduces forward and 2 backward (2 more
            //    when the forward is recomputed) of s·h bf16 values, on the scale-up links; not overlapped.
            var scaleUpBytesPerSecond = Accelerator.ScaleUpGBps.Required / 2 * Numbers.Giga;
            var recomputedLayers = _request.Recompute == Recompute.Full ? _model.Layers : fullyRecomputedLayers;
            var tpOps = (4.0 * _model.Layers) + (2.0 * recomputedLayers);
            var tpBytes = t > 1
                ? tpOps / p * microBatches * 2.0 * (t - 1) / t * _request.SequenceLength * _model.Hidden * 2
                : 0;
            var tpSeconds = tpBytes / scaleUpBytesPerSecond;

            // 4. Data parallelism: ring all-reduce of the bf16 gradients, 2(d-1)/d x size / bandwidth (ZeRO-3
            //    adds the parameter all-gather, 1.5x). It overlaps only the last micro-batch's backward pass.
            //    With expert parallelism each rank holds (and all-reduces) only its share of the experts.
            var gradientBytes = 2.0 * (IsLora ? LoraParameters() : ParametersPerExpertRank(d)) / (t * p);
            var dpBytes = d > 1 ? 2.0 * (d - 1) / d * gradientBytes * (_request.ZeroStage >= 3 ? 1.5 : 1) : 0;
            var withinServer = gpus <= (int)Accelerator.GpusPerServer.Required;
            var dpBandwidth = withinServer ? scaleUpBytesPerSecond : _request.InterNodeGBpsPerGpu * Numbers.Giga;
            var dpSeconds = dpBytes / dpBandwidth;
            var overlap = compute * 2 / 3 / microBatches;
            var dpExposed = Math.Max(0, dpSeconds - overlap);

            // 5. Pipeline point-to-point sends (activations forward, gradients back, s·h bf16 values per
            //    micro-batch and chunk) cross servers and sit on the critical path between stages; counted
            //    as exposed, which is what keeps deep pipelines from looking free.
            var ppBytes = p > 1 ? 2.0 * microBatches * chunks * _request.SequenceLength * _model.Hidden * 2 / t : 0;
            var ppSeconds = ppBytes / (_request.InterNodeGBpsPerGpu * Numbers.Giga);

            // 6. Expert parallelism: per MoE layer and micro-batch, a dispatch and a combine all-to-all
            //    forward and the same backward, each moving this GPU's tokens (s/t) x h x copies x
            //    (ep-1)/ep; the dispatch travels in the training precision, the combine in bf16 (as
            //    DeepSeek-V3 does for FP8). Over the scale-out network once t·ep spans servers.
            var ep = ExpertParallelDegree(d);
            var moeLayers = _model.IsMixtureOfExperts ? (_request.MoeLayers ?? _model.Layers) : 0;
            var a2aBytes = ep > 1 && moeLayers > 0
                ? 2.0 * microBatches * ((double)moeLayers / p) * _request.SequenceLength / t * _model.Hidden * _request.ExpertCopiesPerToken
                    * (_request.Precision.Bytes() + 2) * (ep - 1) / ep
                : 0;
            var a2aAcrossServers = (long)ep * t > (int)Accelerator.GpusPerServer.Required;
            var a2aBandwidth = a2aAcrossServers ? _request.InterNodeGBpsPerGpu * Numbers.Giga : scaleUpBytesPerSecond;
            var a2aSeconds = a2aBytes / a2aBandwidth;
            var a2aExposed = a2aSeconds * (1 - _request.ExpertAllToAllOverlap);

            var step = compute + bubble + tpSeconds + dpExposed + ppSeconds + a2aExposed;
            var exposed = (tpSeconds + dpExposed + ppSeconds + a2aExposed) / step;
            var bottleneck = a2aExposed > Math.Max(ppSeconds, Math.Max(tpSeconds, dpExposed))
                ? $"expert-parallel all-to-all (EP {ep}) takes {a2aExposed / step:P0} of each step at {a2aBandwidth / Numbers.Giga:0.#} GB/s per GPU"
                : ppSeconds > Math.Max(tpSeconds, dpExposed)
                ? $"pipeline sends take {ppSeconds / step:P0} of each step at {_request.InterNodeGBpsPerGpu} GB/s per GPU"
                : tpSeconds >= dpExposed
                ? $"tensor-parallel traffic takes {tpSeconds / step:P0} of each step on {Accelerator.ScaleUpGBps} GB/s scale-up links"
                : $"data-parallel gradient all-reduce leaves {dpExposed / step:P0} of each step exposed at {dpBandwidth / Numbers.Giga:0.#} GB/s per GPU";
            var stepBreakdown = new StepBreakdown(
                Numbers.Round(step), Numbers.Round(compute), Numbers.Round(bubble), Numbers.Round(tpSeconds), Numbers.Round(dpSeconds), Numbers.Round(dpExposed), Numbers.Round(ppSeconds),
                Numbers.Round(dpBytes / Numbers.Giga), Numbers.Round(tpBytes / Numbers.Giga), Numbers.Round(ppBytes / Numbers.Giga),
                Numbers.Round(exposed), exposed > 0.15, bottleneck,
                Numbers.Round(a2aSeconds), Numbers.Round(a2aExposed), Numbers.Round(a2aBytes / Numbers.Giga), ep);

            // MFU counts model FLOPs only (no recomputation), per Chowdhery et al. 2022.
            var mfu = stepFlops / (gpus * _peak * step);
            var lost = (_request.CheckpointIntervalHours / 2) + _request.RestartHours;
            var goodput = (1 - _request.OverheadFraction) / (1 + (_request.FailuresPerGpuHour * gpus * lost));
            var layout = new ParallelLayout(t, p, d, _request.ZeroStage, _request.Recompute.ToString().ToLowerInvariant(), recomputedLayers, microBatches, chunks);
            return new Estimate(gpus, layout, memory, stepBreakdown, mfu, goodput);
        }

        /// <summary>The requested expert-parallel degree, else one server's worth; never more than the data-parallel ranks it spans.</summary>
        private int ExpertParallelDegree(int d) => !_model.IsMixtureOfExperts
            ? 1
            : Math.Max(1, Math.Min(d, _request.ExpertParallel ?? Math.Max(1, (int)Accelerator.GpusPerServer.Required)));

        /// <summary>Parameters a rank holds when experts (about total - active) are split over the EP ranks.</summary>
        private double ParametersPerExpertRank(int d) =>
            _model.ActiveParameters + ((_model.Parameters - _model.ActiveParameters) / ExpertParallelDegree(d));

        private StoragePlan Storage()
        {
            // Checkpoints hold bf16 weights (2 bytes) and fp32 master weights, momentum and variance (12): 14
            // bytes a parameter; LoRA checkpoints hold only the adapters and their optimiser state.
            var checkpointBytes = IsLora ? 16 * LoraParameters() : 14 * _model.Parameters;
            var dataset = _request.Tokens * _request.DatasetBytesPerToken;
            var writeSeconds = _request.CheckpointIntervalHours * 3600 * _request.CheckpointStallFraction;
            return new StoragePlan(
                Numbers.Round(dataset / Numbers.Tera),
                Numbers.Round(checkpointBytes / Numbers.Tera),
                Numbers.Round((dataset + (checkpointBytes * _request.CheckpointsKept)) / Numbers.Tera),
                Numbers.Round(checkpointBytes / writeSeconds / Numbers.Giga),
                _request.CheckpointIntervalHours);
        }

        private void Describe(bool fp8)
        {
            var r = _request;
            var inv = CultureInfo.InvariantCulture;
            _formulas.Add(r.Flops is not null
                ? "compute = the FLOPs given"
                : IsLora
                    ? "compute = D x (4N + 8·L·h·s): LoRA skips weight gradients of frozen matrices"
                    : "compute = D x (6N + 12·L·h·s): 6N for weights (Kaplan et al. 2020), 12·L·h·s for attention (PaLM, Chowdhery et al. 2022)");
            _formulas.Add("step time = compute / (GPUs x peak x kernel efficiency) x recompute + pipeline bubble (p-1)/(m·v) + tensor-parallel all-reduces + exposed data-parallel all-reduce + pipeline sends");
            _formulas.Add("MFU = model FLOPs per step / (GPUs x dense peak x step time)");
            _formulas.Add("goodput = (1 - overhead) / (1 + failures per GPU-hour x GPUs x (checkpoint interval / 2 + restart))");
            _formulas.Add("wall clock = compute / (GPUs x peak x MFU) / goodput; GPU-hours = GPUs x wall clock");
            _formulas.Add("memory = weights 2Ψ + gradients 2Ψ + optimiser 12Ψ, Ψ = N/(t·p), sharded over d by ZeRO stage (Rajbhandari et al. 2020) + activations L x sbh(34 + 5as/h)/t (Korthikanti et al. 2022; 34sbh/t selective, 2sbh/t full recompute)");
            _formulas.Add("data-parallel all-reduce = 2(d-1)/d x gradient bytes / bandwidth; tensor-parallel = 4 all-reduces of s·h per layer and micro-batch on scale-up links");
            _formulas.Add("cost: on-prem = capex x time / amortisation + energy (kW x draw x PUE x $/kWh) + staff; cloud = instances x $/h x hours (reserved: the whole term); spot = longer by interruptions x (interval/2 + restart)");
            _assumptions.Add(string.Create(inv, $"kernel efficiency {_kernelEfficiency:0.###} = {Accelerator.TrainingEfficiency} ({Accelerator.TrainingEfficiency.Source}) x h/(h+512) with h = {_model.Hidden}{(fp8 ? " x 0.7 for FP8" : "")}"));
            _assumptions.Add(string.Create(inv, $"global batch {BatchSequences} sequences of {r.SequenceLength} tokens, micro-batch 1, interleaved 1F1B with up to 4 chunks per stage"));
            _assumptions.Add(string.Create(inv, $"scale-out {r.InterNodeGBpsPerGpu} GB/s per GPU; scale-up {Accelerator.ScaleUpGBps} GB/s per GPU (half each way)"));
            _assumptions.Add(string.Create(inv, $"{r.FailuresPerGpuHour:0.##e0} failures per GPU-hour (Llama 3 report), checkpoint every {r.CheckpointIntervalHours} h, restart {r.RestartHours} h, {r.OverheadFraction:P0} evaluation and logging overhead"));
            _assumptions.Add(string.Create(inv, $"{UsableMemoryFraction:P0} of device memory usable; mixed-precision Adam; ZeRO stage {r.ZeroStage}; {r.Recompute.ToString().ToLowerInvariant()} recomputation"));
            if (_model.IsMixtureOfExperts)
            {
                _assumptions.Add("mixture of experts: compute from active parameters, experts (total - active parameters) sharded over EP ranks for weights and gradients, optimiser states sharded over all data-parallel ranks");
                _assumptions.Add(string.Create(inv, $"expert parallelism {(r.ExpertParallel is { } ep ? ep.ToString(inv) : "one server (default)")}, {r.ExpertCopiesPerToken} copies of each token, {(r.MoeLayers is { } ml ? ml.ToString(inv) : "all")} MoE layers; all-to-all {r.ExpertAllToAllOverlap:P0} hidden behind compute"));
                _formulas.Add("expert all-to-all per step = 4 (dispatch + combine, forward + backward) x MoE layers/p x micro-batches x s/t x h x copies x bytes x (ep-1)/ep / bandwidth (scale-out once t·ep spans servers), x (1 - overlap) exposed");
            }
        }
    }
}
