using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Stratum.Core;
using Stratum.Planning;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Stratum.Cli.Commands;

/// <summary>
/// <c>stratum plan train|finetune|serve|validate|catalog</c> and <c>stratum plan -f workload.yaml</c>:
/// the capacity and cost planner. It needs no server: the planner is a library and the catalogs
/// travel inside it (extend them with <c>--catalog FILE</c>).
/// </summary>
public static class PlanCommand
{
    private static readonly (string Name, string Help)[] ModelOptions =
    [
        ("params", "Total parameters, for example 70e9"),
        ("active-params", "Parameters active per token (mixture of experts)"),
        ("layers", "Transformer layers (derived from --params when absent)"),
        ("hidden", "Hidden size"),
        ("heads", "Attention heads"),
        ("kv-heads", "Key/value heads (grouped-query attention)"),
        ("vocab", "Vocabulary size"),
        ("gpu", "Accelerator name from the catalog, for example nvidia-h100-sxm ('stratum plan catalog' lists them)"),
        ("gpus", "GPUs (train: the cluster; serve: per replica)"),
        ("precision", "bf16 or fp8"),
    ];

    private static readonly (string Name, string Help)[] TrainOptions =
    [
        ("tokens", "Training tokens, for example 366e9"),
        ("deadline", "Finish within this long (90d, 12w, 2000h); the plan finds the GPU count"),
        ("seq-len", "Sequence length (default 2048)"),
        ("batch-tokens", "Tokens per optimiser step (default 4194304)"),
        ("flops", "Total training FLOPs if known (replaces 6ND + attention)"),
        ("zero", "ZeRO stage 0-3 (default 1, a sharded optimiser)"),
        ("recompute", "none, selective, full or auto (default auto: selective, plus full on as few layers as needed)"),
        ("tp", "Fix the tensor-parallel degree"),
        ("pp", "Fix the pipeline-parallel degree"),
        ("inter-node-gbps", "Scale-out bandwidth per GPU in GB/s (default 50 = 400 Gb/s)"),
        ("expert-parallel", "Mixture of experts: ranks the experts are spread over (default one server)"),
        ("expert-copies", "Mixture of experts: ranks each token is sent to (top-k; default 2)"),
        ("moe-layers", "Mixture of experts: layers with experts (default all)"),
        ("expert-overlap", "Mixture of experts: share of the all-to-all hidden behind compute, 0-1 (default 0)"),
        ("checkpoint-interval", "Hours between checkpoints (default 1)"),
        ("grid-intensity", "kg CO2 per kWh (default from the catalog)"),
        ("spot-interruptions", "Spot interruptions per instance-hour (default 0.2 a month)"),
    ];

    private static readonly (string Name, string Help)[] FinetuneOptions =
    [
        ("method", "full, lora or qlora (default lora)"),
        ("lora-rank", "LoRA rank (default 16)"),
    ];

    private static readonly (string Name, string Help)[] ServeOptions =
    [
        ("input-tokens", "Prompt tokens per request"),
        ("output-tokens", "Output tokens per request"),
        ("requests-per-second", "Target load; the plan answers how many GPUs in all"),
        ("concurrency", "Sequences decoded together per replica (default: as many as fit)"),
        ("ttft-ms", "Target time to first token, ms"),
        ("tpot-ms", "Target time per output token, ms"),
    ];

    private static readonly Option<string[]> Catalogs = new("--catalog")
    {
        Description = "Extra catalog JSON files merged over the built-in ones (same shape as src/Stratum.Planning/Catalogs)",
        Recursive = true,
        HelpName = "FILE",
        AllowMultipleArgumentsPerToken = false,
    };

    public static Command Create(CliEnvironment environment)
    {
        var file = new Option<string?>("--file", "-f") { Description = "A workload.yaml: 'kind: train|finetune|serve' and the same keys as the options", HelpName = "FILE" };
        var command = new Command("plan", "Plan capacity and cost before buying: GPUs, time, memory, network, storage, power and price") { file, Catalogs };
        command.WithAction(environment, run =>
        {
            var path = run.Get(file) ?? throw new CommandLineException("give a workload file with -f, or a subcommand: train, finetune, serve, validate, catalog");
            var (kind, values) = ReadWorkload(path);
            Func<string, string?> get = key => values.GetValueOrDefault(key);
            return Task.FromResult(kind switch
            {
                "train" => Train(run, get, TrainingMethod.Pretrain),
                "finetune" => Train(run, get, ParseMethod(get("method"))),
                "serve" => Serve(run, get),
                "gpu-hours" => GpuHours(run, get),
                _ => throw new CommandLineException($"{path}: kind must be train, finetune, serve or gpu-hours, not '{kind}'"),
            });
        });

        command.Subcommands.Add(Sub(environment, "train", "Size pretraining: compute, layout, time or GPUs for a deadline, storage, power, cost",
            [.. ModelOptions, .. TrainOptions], (run, get) => Train(run, get, TrainingMethod.Pretrain)));
        command.Subcommands.Add(Sub(environment, "finetune", "Size fine-tuning (full, LoRA or QLoRA)",
            [.. ModelOptions, .. TrainOptions, .. FinetuneOptions], (run, get) => Train(run, get, ParseMethod(get("method")))));
        command.Subcommands.Add(Sub(environment, "serve", "Size inference serving: KV cache, concurrency, latency, throughput, GPUs",
            [.. ModelOptions, .. ServeOptions], Serve));

        command.Subcommands.Add(Sub(environment, "gpu-hours", "Price N GPU-hours of one type every way the catalog knows",
            [("hours", "GPU-hours, for example 100000"), ("gpu", "Accelerator name from the catalog"), ("gpus", "GPUs running at once (default one server)"), ("deadline", "Finish within (90d, 12w, 2000h)")],
            GpuHours));

        var validate = new Command("validate", "Compare the planner with published training runs and serving benchmarks");
        validate.WithAction(environment, run => Task.FromResult(Validate(run)));
        command.Subcommands.Add(validate);

        var catalog = new Command("catalog", "List the accelerators and cloud offers the planner knows, with dates and sources");
        catalog.WithAction(environment, run => Task.FromResult(ShowCatalog(run)));
        command.Subcommands.Add(catalog);
        return command;
    }

    private static Command Sub(CliEnvironment environment, string name, string description, (string Name, string Help)[] options, Func<Invocation, Func<string, string?>, int> action)
    {
        var command = new Command(name, description);
        var byName = new Dictionary<string, Option<string?>>(StringComparer.Ordinal);
        foreach (var (option, help) in options)
        {
            var created = new Option<string?>("--" + option) { Description = help, HelpName = "VALUE" };
            byName[option] = created;
            command.Options.Add(created);
        }

        command.WithAction(environment, run => Task.FromResult(action(run, key => byName.TryGetValue(key, out var o) ? run.Get(o) : null)));
        return command;
    }

    private static PlanningCatalog LoadCatalog(Invocation run)
    {
        var files = run.Get(Catalogs) ?? [];
        try
        {
            return files.Length == 0 ? CatalogLoader.Default : CatalogLoader.Load(files);
        }
        catch (CatalogException e)
        {
            throw new CommandLineException(e.Message);
        }
    }

    private static int Train(Invocation run, Func<string, string?> get, TrainingMethod method)
    {
        var errors = new List<ValidationError>();
        var input = new Input(get, errors);
        var request = new TrainingRequest
        {
            Model = input.Model(),
            Tokens = input.Number("tokens", required: true) ?? 0,
            Gpu = input.Text("gpu", required: true) ?? "",
            Gpus = input.Whole("gpus"),
            DeadlineDays = input.Days("deadline"),
            Precision = input.Precision(),
            Method = method,
            LoraRank = input.Whole("lora-rank") ?? 16,
            SequenceLength = input.Whole("seq-len") ?? 2048,
            GlobalBatchTokens = input.Number("batch-tokens") ?? 4_194_304,
            Flops = input.Number("flops"),
            ZeroStage = input.Whole("zero") ?? 1,
            Recompute = input.Recompute(),
            TensorParallel = input.Whole("tp"),
            PipelineParallel = input.Whole("pp"),
            InterNodeGBpsPerGpu = input.Number("inter-node-gbps") ?? 50,
            ExpertParallel = input.Whole("expert-parallel"),
            ExpertCopiesPerToken = input.Whole("expert-copies") ?? 2,
            MoeLayers = input.Whole("moe-layers"),
            ExpertAllToAllOverlap = input.Number("expert-overlap", allowZero: true) ?? 0,
            CheckpointIntervalHours = input.Number("checkpoint-interval") ?? 1,
            GridKgCo2PerKwh = input.Number("grid-intensity", allowZero: true),
            SpotInterruptionsPerInstanceHour = input.Number("spot-interruptions", allowZero: true) ?? (0.2 / 730),
        };
        if (Invalid(run, errors))
        {
            return ExitCodes.Invalid;
        }

        var result = new TrainingPlanner(LoadCatalog(run)).Plan(request);
        if (result.Plan is not { } plan)
        {
            return Invalid(run, result.Errors) ? ExitCodes.Invalid : ExitCodes.Failure;
        }

        if (run.Terminal.IsJson)
        {
            run.Terminal.WriteJson(plan);
            return ExitCodes.Ok;
        }

        WriteTraining(run.Terminal, plan);
        return ExitCodes.Ok;
    }

    private static int Serve(Invocation run, Func<string, string?> get)
    {
        var errors = new List<ValidationError>();
        var input = new Input(get, errors);
        var request = new ServingRequest
        {
            Model = input.Model(),
            Gpu = input.Text("gpu", required: true) ?? "",
            Gpus = input.Whole("gpus"),
            Precision = input.Precision(),
            InputTokens = input.Whole("input-tokens", required: true) ?? 0,
            OutputTokens = input.Whole("output-tokens", required: true) ?? 0,
            RequestsPerSecond = input.Number("requests-per-second"),
            Concurrency = input.Whole("concurrency"),
            TimeToFirstTokenMs = input.Number("ttft-ms"),
            TimePerOutputTokenMs = input.Number("tpot-ms"),
        };
        if (Invalid(run, errors))
        {
            return ExitCodes.Invalid;
        }

        var result = new ServingPlanner(LoadCatalog(run)).Plan(request);
        if (result.Plan is not { } plan)
        {
            return Invalid(run, result.Errors) ? ExitCodes.Invalid : ExitCodes.Failure;
        }

        if (run.Terminal.IsJson)
        {
            run.Terminal.WriteJson(plan);
            return ExitCodes.Ok;
        }

        WriteServing(run.Terminal, plan);
        return ExitCodes.Ok;
    }

    private static int GpuHours(Invocation run, Func<string, string?> get)
    {
        var errors = new List<ValidationError>();
        var input = new Input(get, errors);
        var request = new GpuHoursRequest
        {
            Gpu = input.Text("gpu", required: true) ?? "",
            GpuHours = input.Number("hours", required: true) ?? 0,
            Gpus = input.Whole("gpus"),
            DeadlineDays = input.Days("deadline"),
        };
        if (Invalid(run, errors))
        {
            return ExitCodes.Invalid;
        }

        var result = new GpuHoursPlanner(LoadCatalog(run)).Plan(request);
        if (result.Plan is not { } plan)
        {
            return Invalid(run, result.Errors) ? ExitCodes.Invalid : ExitCodes.Failure;
        }

        if (run.Terminal.IsJson)
        {
            run.Terminal.WriteJson(plan);
            return ExitCodes.Ok;
        }

        run.Terminal.Result(Format.Details(
        [
            ("work", Markup.Escape($"{Num(plan.GpuHours)} GPU-hours of {plan.Gpu} on {plan.Gpus} GPUs: {Num(plan.WallClockDays)} days")),
            ("power", Markup.Escape($"{plan.Power.Servers} servers, {Num(plan.Power.ItKw)} kW IT, {plan.Power.Racks} racks; {Num(plan.Power.EnergyMwh)} MWh, {Num(plan.Power.Co2Tonnes)} t CO2")),
        ]));
        WriteCosts(run.Terminal, plan.Costs, "TOTAL $");
        if (plan.Cheapest is { } cheapest)
        {
            run.Terminal.Result($"cheapest: [bold]{Markup.Escape(cheapest.Option)}[/] {Markup.Escape(cheapest.Instance)}, ${Num(cheapest.TotalUsd)}");
        }

        WriteWorking(run.Terminal, plan.Working);
        return ExitCodes.Ok;
    }

    private static int Validate(Invocation run)
    {
        var cases = Validation.Run(LoadCatalog(run));
        if (run.Terminal.IsJson)
        {
            run.Terminal.WriteJson(cases);
            return ExitCodes.Ok;
        }

        var table = Format.Table("RUN", "QUANTITY", "PUBLISHED", "PREDICTED", "ERROR", "KIND");
        foreach (var c in cases)
        {
            table.AddRow(Format.Cell(c.Name), Format.Cell(c.Quantity), Num(c.Published), Num(c.Predicted),
                c.Error.ToString("+0.0%;-0.0%;0.0%", CultureInfo.InvariantCulture), c.Kind == "prediction" ? "" : $"[grey]{c.Kind}[/]");
        }

        run.Terminal.Result(table);
        var predictions = cases.Where(c => c.Kind == "prediction").ToList();
        run.Terminal.Note($"{predictions.Count} predictions: median |error| {Median(predictions.Select(c => c.AbsoluteError)):P1}, worst {predictions.Max(c => c.AbsoluteError):P1}; sources in 'stratum plan validate -o json'");
        return ExitCodes.Ok;
    }

    private static int ShowCatalog(Invocation run)
    {
        var catalog = LoadCatalog(run);
        if (run.Terminal.IsJson)
        {
            run.Terminal.WriteJson(new { accelerators = catalog.Accelerators.Values.OrderBy(a => a.Name, StringComparer.Ordinal), offers = catalog.Offers, onPrem = catalog.OnPrem, servers = catalog.Servers.Values });
            return ExitCodes.Ok;
        }

        var accelerators = Format.Table("NAME", "BF16 TFLOPS", "FP8 TFLOPS", "MEMORY GB", "TB/S", "SCALE-UP GB/S", "TDP W", "DATE");
        foreach (var a in catalog.Accelerators.Values.OrderBy(a => a.Name, StringComparer.Ordinal))
        {
            accelerators.AddRow(Format.Cell(a.Name), a.Bf16Tflops.ToString(), a.Fp8Tflops.ToString(), a.MemoryGb.ToString(), a.MemoryTBps.ToString(),
                a.ScaleUpGBps.ToString(), a.TdpW.ToString(), Format.Cell(a.Bf16Tflops.Date));
        }

        run.Terminal.Result(accelerators);
        var offers = Format.Table("PROVIDER", "INSTANCE", "GPU", "GPUS", "ON-DEMAND $/H", "1Y $/H", "3Y $/H", "SPOT $/H", "DATE");
        foreach (var o in catalog.Offers.OrderBy(o => o.Gpu, StringComparer.Ordinal).ThenBy(o => o.Provider, StringComparer.Ordinal))
        {
            offers.AddRow(Format.Cell(o.Provider), Format.Cell(o.Instance), Format.Cell(o.Gpu), o.Gpus.ToString(CultureInfo.InvariantCulture),
                o.OnDemand.ToString(), o.Reserved1y.ToString(), o.Reserved3y.ToString(), o.Spot.ToString(), Format.Cell(o.OnDemand.Date));
        }

        run.Terminal.Result(offers);
        run.Terminal.Note("every figure's source: 'stratum plan catalog -o json'; prices marked UNSURE there must be checked before buying");
        return ExitCodes.Ok;
    }

    private static void WriteTraining(Terminal terminal, TrainingPlan plan)
    {
        var deadline = plan.DeadlineDays is { } days ? $" (deadline {Num(days)} days)" : "";
        terminal.Result(Format.Details(
        [
            ("workload", Markup.Escape($"{plan.Method} {Num(plan.Parameters)} parameters{(plan.ActiveParameters < plan.Parameters ? $" ({Num(plan.ActiveParameters)} active)" : "")}, {Num(plan.Tokens)} tokens, {plan.Precision}")),
            ("cluster", Markup.Escape($"{plan.Gpus} x {plan.Gpu}, {plan.Layout}, ZeRO {plan.Layout.ZeroStage}, recompute {plan.Layout.Recompute}" +
                (plan.Layout.FullyRecomputedLayers > 0 ? $" ({plan.Layout.FullyRecomputedLayers} layers fully)" : "") +
                (plan.SmallestLayout != plan.Layout ? $"; smallest layout that fits: {plan.SmallestLayout}" : ""))),
            ("compute", Markup.Escape($"{Num(plan.TotalFlops)} FLOPs ({Num(plan.FlopsPerToken)} per token)")),
            ("utilisation", Markup.Escape($"MFU {plan.Mfu:P1}, goodput {plan.Goodput:P1}, {Num(plan.AchievedTflopsPerGpu)} TFLOP/s per GPU delivered")),
            ("time", $"[bold]{Num(plan.WallClockDays)} days[/], {Num(plan.GpuHours)} GPU-hours{Markup.Escape(deadline)}"),
            ("memory per GPU", Markup.Escape($"{Num(plan.MemoryPerGpuGb)} of {Num(plan.GpuMemoryGb)} GB: weights {Num(plan.Memory.WeightsGb)}, gradients {Num(plan.Memory.GradientsGb)}, optimiser {Num(plan.Memory.OptimizerGb)}, activations {Num(plan.Memory.ActivationsGb)}")),
            ("step", Markup.Escape($"{Num(plan.Step.StepSeconds)} s per optimiser step ({plan.Layout.MicroBatchesPerStep} micro-batches); breakdown below")),
            ("network", plan.Step.NetworkBound ? "[red]bottleneck[/]: " + Markup.Escape(plan.Step.Bottleneck) : Markup.Escape($"not the bottleneck ({plan.Step.ExposedCommunicationFraction:P0} of a step exposed; largest: {plan.Step.Bottleneck})")),
            ("storage", Markup.Escape($"dataset {Num(plan.Storage.DatasetTb)} TB, checkpoint {Num(plan.Storage.CheckpointTb)} TB, {Num(plan.Storage.TotalTb)} TB in all; {Num(plan.Storage.CheckpointWriteGBps)} GB/s write to checkpoint every {Num(plan.Storage.CheckpointIntervalHours)} h")),
            ("power", Markup.Escape($"{plan.Power.Servers} servers, {Num(plan.Power.ItKw)} kW IT ({Num(plan.Power.FacilityKw)} kW with PUE), {plan.Power.Racks} racks; {Num(plan.Power.EnergyMwh)} MWh, {Num(plan.Power.Co2Tonnes)} t CO2 at {Num(plan.Power.GridKgCo2PerKwh)} kg/kWh")),
        ]));
        WriteStep(terminal, plan.Step);
        WriteCosts(terminal, plan.Costs, "TOTAL $");
        if (plan.Cheapest is { } cheapest)
        {
            terminal.Result($"cheapest{(plan.DeadlineDays is null ? "" : " that meets the deadline")}: [bold]{Markup.Escape(cheapest.Option)}[/] {Markup.Escape(cheapest.Instance)}, ${Num(cheapest.TotalUsd)}");
        }

        WriteWorking(terminal, plan.Working);
    }

    private static void WriteServing(Terminal terminal, ServingPlan plan)
    {
        terminal.Result(Format.Details(
        [
            ("replicas", Markup.Escape($"{plan.Replicas} x {plan.GpusPerReplica} {plan.Gpu} = {plan.GpusNeeded} GPUs, {plan.Precision}")),
            ("memory", Markup.Escape($"weights {Num(plan.WeightsGb)} GB, KV cache {Num(plan.KvCacheGb)} GB per replica ({Num(plan.KvCacheGbPerSequence)} GB a sequence)")),
            ("concurrency", Markup.Escape($"{plan.Concurrency} sequences per replica (the KV cache holds {plan.MaxConcurrency})")),
            ("latency", Markup.Escape($"first token {Num(plan.TimeToFirstTokenMs)} ms, {Num(plan.TimePerOutputTokenMs)} ms per output token; decode bound by {plan.DecodeBound}") +
                (plan.MeetsLatencyTargets ? "" : " [red](misses the target)[/]")),
            ("throughput", $"[bold]{Num(plan.OutputTokensPerSecond)} output tokens/s[/]" + Markup.Escape($", {Num(plan.RequestsPerSecondPerReplica)} requests/s per replica")),
            ("power", Markup.Escape($"{plan.Power.Servers} servers, {Num(plan.Power.ItKw)} kW IT, {plan.Power.Racks} racks")),
        ]));
        WriteCosts(terminal, plan.CostsPerHour, "$ PER HOUR");
        WriteWorking(terminal, plan.Working);
    }

    /// <summary>Where a step's time goes: the parts add up to the step, so an engineer sees what to fix first.</summary>
    private static void WriteStep(Terminal terminal, StepBreakdown step)
    {
        var table = Format.Table("STEP PART", "SECONDS", "SHARE", "GB PER GPU", "ON THE CRITICAL PATH");
        void Row(string part, double seconds, double exposed, double? gb)
        {
            var share = step.StepSeconds > 0 ? (exposed / step.StepSeconds).ToString("P0", CultureInfo.InvariantCulture) : "-";
            table.AddRow(Format.Cell(part), Num(seconds), share, gb is { } g ? Num(g) : "", Markup.Escape(exposed >= seconds ? "all" : $"{Num(exposed)} s exposed"));
        }

        Row("compute", step.ComputeSeconds, step.ComputeSeconds, null);
        Row("pipeline bubble", step.PipelineBubbleSeconds, step.PipelineBubbleSeconds, null);
        Row("tensor-parallel all-reduce", step.TensorParallelSeconds, step.TensorParallelSeconds, step.TensorParallelGbPerGpu);
        Row("data-parallel all-reduce", step.DataParallelSeconds, step.DataParallelExposedSeconds, step.DataParallelGbPerGpu);
        Row("pipeline sends", step.PipelineSendSeconds, step.PipelineSendSeconds, step.PipelineGbPerGpu);
        if (step.ExpertParallel > 1)
        {
            Row($"expert all-to-all (EP {step.ExpertParallel})", step.ExpertAllToAllSeconds, step.ExpertAllToAllExposedSeconds, step.ExpertAllToAllGbPerGpu);
        }

        terminal.Result(table);
    }

    private static void WriteCosts(Terminal terminal, IReadOnlyList<CostOption> costs, string totalHeader)
    {
        if (costs.Count == 0)
        {
            terminal.Note("no prices in the catalog for this accelerator");
            return;
        }

        var table = Format.Table("OPTION", "WHERE", totalHeader, "$/GPU-H", "DAYS", "MEETS DEADLINE", "PRICE DATE");
        foreach (var c in costs)
        {
            table.AddRow(Format.Cell(c.Option), Format.Cell($"{c.Provider} {c.Instance}"), Num(c.TotalUsd), Num(c.UsdPerGpuHour), Num(c.WallClockDays),
                c.MeetsDeadline ? "[green]yes[/]" : "[red]no[/]", Format.Cell(c.Date));
        }

        terminal.Result(table);
    }

    private static void WriteWorking(Terminal terminal, Working working)
    {
        foreach (var warning in working.Warnings)
        {
            terminal.Result("[yellow]warning:[/] " + Markup.Escape(warning));
        }

        terminal.Result("[bold]formulas[/]");
        foreach (var line in working.Formulas)
        {
            terminal.Result("  " + Markup.Escape(line));
        }

        terminal.Result("[bold]assumptions[/]");
        foreach (var line in working.Assumptions)
        {
            terminal.Result("  " + Markup.Escape(line));
        }
    }

    private static bool Invalid(Invocation run, IReadOnlyList<ValidationError> errors)
    {
        foreach (var error in errors)
        {
            run.Terminal.Fail($"--{error.Field}: {error.Message}");
        }

        return errors.Count > 0;
    }

    private static TrainingMethod ParseMethod(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "lora" => TrainingMethod.Lora,
        "full" => TrainingMethod.FullFineTune,
        "qlora" => TrainingMethod.Qlora,
        _ => throw new CommandLineException($"--method must be full, lora or qlora, not '{text}'"),
    };

    /// <summary>Reads a workload.yaml into its kind and option values (keys are the option names without dashes).</summary>
    private static (string Kind, Dictionary<string, string> Values) ReadWorkload(string path)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CommandLineException($"cannot read '{path}': {e.Message}");
        }
        catch (YamlException e)
        {
            throw new CommandLineException($"{path}: not valid YAML: {e.Message}");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new CommandLineException($"{path}: expected a mapping such as 'kind: train' and 'params: 7e9'");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in root.Children)
        {
            if (key is YamlScalarNode { Value: { } name } && value is YamlScalarNode { Value: { } text })
            {
                values[name] = text;
            }
            else
            {
                throw new CommandLineException($"{path}: every entry must be 'key: value'");
            }
        }

        var known = ModelOptions.Concat(TrainOptions).Concat(FinetuneOptions).Concat(ServeOptions).Select(o => o.Name).Append("kind").Append("hours").ToHashSet(StringComparer.Ordinal);
        if (values.Keys.FirstOrDefault(k => !known.Contains(k)) is { } unknown)
        {
            throw new CommandLineException($"{path}: unknown key '{unknown}'");
        }

        return (values.GetValueOrDefault("kind") ?? throw new CommandLineException($"{path}: 'kind: train|finetune|serve' is missing"), values);
    }

    private static string Num(double value)
    {
        var abs = Math.Abs(value);
        return abs switch
        {
            0 => "0",
            >= 1e15 => value.ToString("0.00e0", CultureInfo.InvariantCulture),
            >= 1e12 => (value / 1e12).ToString("0.##", CultureInfo.InvariantCulture) + "T",
            >= 1e9 => (value / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "B",
            >= 1e6 => (value / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M",
            >= 1e4 => value.ToString("N0", CultureInfo.InvariantCulture),
            >= 1 => value.ToString("0.##", CultureInfo.InvariantCulture),
            _ => value.ToString("0.###", CultureInfo.InvariantCulture),
        };
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>Reads option values as text and collects every problem at once, naming the option.</summary>
    private sealed class Input(Func<string, string?> get, List<ValidationError> errors)
    {
        public string? Text(string name, bool required = false)
        {
            var value = get(name);
            if (string.IsNullOrWhiteSpace(value))
            {
                if (required)
                {
                    errors.Add(new(name, "is required"));
                }

                return null;
            }

            return value.Trim();
        }

        public double? Number(string name, bool required = false, bool allowZero = false)
        {
            if (Text(name, required) is not { } text)
            {
                return null;
            }

            if (!double.TryParse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                errors.Add(new(name, $"'{text}' is not a number"));
                return null;
            }

            if (value < 0 || (value == 0 && !allowZero))
            {
                errors.Add(new(name, $"must be {(allowZero ? "zero or " : "")}positive, not {text}"));
                return null;
            }

            return value;
        }

        public int? Whole(string name, bool required = false)
        {
            if (Number(name, required) is not { } value)
            {
                return null;
            }

            if (value != Math.Floor(value) || value > int.MaxValue)
            {
                errors.Add(new(name, "must be a whole number"));
                return null;
            }

            return (int)value;
        }

        public double? Days(string name)
        {
            if (Text(name) is not { } text)
            {
                return null;
            }

            var (number, scale) = text[^1] switch
            {
                'd' or 'D' => (text[..^1], 1.0),
                'w' or 'W' => (text[..^1], 7.0),
                'h' or 'H' => (text[..^1], 1 / 24.0),
                'y' or 'Y' => (text[..^1], 365.0),
                _ => (text, 1.0),
            };
            if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value <= 0)
            {
                errors.Add(new(name, $"'{text}' is not a positive duration such as 90d, 12w or 2000h"));
                return null;
            }

            return value * scale;
        }

        public Precision Precision()
        {
            var text = Text("precision");
            if (text is not null && !Precisions.TryParse(text, out _))
            {
                errors.Add(new("precision", $"must be bf16 or fp8, not '{text}'"));
            }

            Precisions.TryParse(text, out var precision);
            return precision;
        }

        public Recompute Recompute()
        {
            var text = Text("recompute");
            if (text is null)
            {
                return Planning.Recompute.Auto;
            }

            if (!Enum.TryParse<Recompute>(text, ignoreCase: true, out var recompute) || !Enum.IsDefined(recompute))
            {
                errors.Add(new("recompute", $"must be none, selective, full or auto, not '{text}'"));
                return Planning.Recompute.Auto;
            }

            return recompute;
        }

        public ModelSpec Model() => new()
        {
            Parameters = Number("params", required: true) ?? 1,
            ActiveParameters = Number("active-params"),
            Layers = Whole("layers"),
            Hidden = Whole("hidden"),
            Heads = Whole("heads"),
            KvHeads = Whole("kv-heads"),
            Vocabulary = Whole("vocab"),
        };
    }
}
