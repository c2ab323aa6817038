using System.Globalization;
using Spectre.Console;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Core.Resources;
using Stratum.Server;

namespace Stratum.Cli.Demo;

/// <summary>
/// What <c>stratum up --demo</c> does once the server listens, through the public API like any user:
/// declares two projects with quotas, submits a handful of real jobs sized from this machine's node,
/// and shows them live until they settle. Every submit carries an Idempotency-Key, so a second
/// <c>up --demo</c> on the same data shows the same jobs instead of submitting them again.
/// </summary>
/// <remarks>
/// The timeline on a 2-core machine (about a minute). C is the local node's allocatable CPUs:
/// 1. hello and bad-config (nlp) start at once; one succeeds, the other fails with exit code 3.
/// 2. train (vision, preemptible, priority 10) takes 0.6 C and checkpoints every 10 steps.
/// 3. prep (nlp, 0.2 C, about 25 s) fills nlp's quota, so sweep (nlp, 0.2 C) waits with a quota
///    reason until prep ends. (A job larger than its whole quota would be refused at submit instead.)
/// 4. Once train has run a few seconds, eval (vision, priority 100) asks for 0.5 C: it fits beside
///    prep but not beside train, so the scheduler preempts train (SIGTERM → checkpoint → Preempted).
/// 5. eval finishes; train starts again, resumes from its checkpoint and succeeds; sweep runs after prep.
/// Beside them, on two simulated 8-GPU nodes (pool gpu-sim, <c>executor: simulated</c>: no program runs,
/// usage is made up), finetune (vision) holds 4 GPUs and keeps one busy, and pretrain (nlp) keeps all 8
/// busy, so that <c>stratum usage</c> has GPU-hours and cost and <c>stratum advise</c> has advice to give
/// on a machine without GPUs. The local jobs carry <c>pool=local</c> so none lands on a simulated node.
/// </remarks>
public sealed class DemoRunner
{
    /// <summary>Bump when the demo's jobs change, so an old data directory gets the new ones.</summary>
    private const string KeyPrefix = "demo-v2-";

    private static readonly TimeSpan SettleTimeout = TimeSpan.FromMinutes(4);
    private static readonly TimeSpan TrainHeadStart = TimeSpan.FromSeconds(7);

    private readonly StratumServer _server;
    private readonly Terminal _terminal;
    private readonly TimeProvider _time;

    public DemoRunner(StratumServer server, Terminal terminal, TimeProvider time)
    {
        _server = server;
        _terminal = terminal;
        _time = time;
    }

    /// <summary>Demo projects with quotas for a node of <paramref name="cpuMillis"/> CPUs.</summary>
    public static string InfraDocument(long cpuMillis) =>
        $$"""
        # Written by 'stratum up --demo', sized for this machine ({{Quantity.FormatCpu(cpuMillis)}} CPUs).
        projects:
          - name: vision
            description: Image models (demo)
            quota: {cpu: "{{Quantity.FormatCpu(Share(cpuMillis, 1.5))}}", memory: 4Gi, gpus: 8}
          - name: nlp
            description: Language models (demo)
            quota: {cpu: "{{Quantity.FormatCpu(NlpQuota(cpuMillis))}}", memory: 2Gi, gpus: 8}
        pools:
          - name: gpu-sim
            kind: cloud
            executor: simulated
            price: {model: on-demand, gpuHour: 2.50, cpuCoreHour: 0.04, memoryGbHour: 0.005}
        nodes:
          - name: sim-h100-1
            pool: gpu-sim
            cpu: 96
            memory: 1Ti
            accelerators: {nvidia-h100: 8}
            labels: {simulated: "true"}
          - name: sim-h100-2
            pool: gpu-sim
            cpu: 96
            memory: 1Ti
            accelerators: {nvidia-h100: 8}
            labels: {simulated: "true"}
        """;


    /// <summary>The demo's jobs for a node of <paramref name="cpuMillis"/> CPUs, in submission order; eval comes last and later.</summary>
    public static IReadOnlyList<DemoJob> Jobs(long cpuMillis, string trainScript)
    {
        var trainCpu = Share(cpuMillis, 0.6);
        var evalCpu = Share(cpuMillis, 0.5);
        var nlpCpu = Share(cpuMillis, 0.2);
        return
        [
            new DemoJob("hello", "nlp", new SubmitJobRequest
            {
                Name = "hello",
                Project = "nlp",
                Command = ["sh", "-c", "echo \"hello from $(hostname)\"; uname -a"],
                Resources = new ResourcesDto { Cpu = "50m", Memory = "64Mi" },
                NodeSelector = Local,
            }),
            new DemoJob("bad-config", "nlp", new SubmitJobRequest
            {
                Name = "bad-config",
                Project = "nlp",
                Command = ["sh", "-c", "echo 'loading config.yaml'; echo 'error: config.yaml: no such file' >&2; exit 3"],
                Resources = new ResourcesDto { Cpu = "50m", Memory = "64Mi" },
                NodeSelector = Local,
                Retry = new RetryDto { MaxAttempts = 1 },
            }),
            new DemoJob("train", "vision", new SubmitJobRequest
            {
                Name = "train",
                Project = "vision",
                Command = ["sh", trainScript, "--steps", "60", "--step-seconds", "0.5", "--checkpoint-every", "10"],
                Resources = new ResourcesDto { Cpu = Quantity.FormatCpu(trainCpu), Memory = "256Mi" },
                NodeSelector = Local,
                Priority = 10,
                Preemptible = true,
                Retry = new RetryDto { MaxAttempts = 3 },
            }),
            new DemoJob("prep", "nlp", new SubmitJobRequest
            {
                Name = "prep",
                Project = "nlp",
                Command = ["sh", "-c", "i=1; while [ $i -le 12 ]; do echo \"tokenizing shard $i/12\"; sleep 2; i=$((i+1)); done"],
                Resources = new ResourcesDto { Cpu = Quantity.FormatCpu(nlpCpu), Memory = "128Mi" },
                NodeSelector = Local,
            }),
            new DemoJob("sweep", "nlp", new SubmitJobRequest
            {
                Name = "sweep",
                Project = "nlp",
                Command = ["sh", "-c", "for lr in 0.1 0.03 0.01; do echo \"trying learning rate $lr\"; sleep 1; done; echo 'best: 0.03'"],
                Resources = new ResourcesDto { Cpu = Quantity.FormatCpu(nlpCpu), Memory = "128Mi" },
                NodeSelector = Local,
            }),
            new DemoJob("finetune", "vision", new SubmitJobRequest
            {
                Name = "finetune",
                Project = "vision",
                Command = ["simulated"],
                Resources = new ResourcesDto { Cpu = "100m", Memory = "256Mi", Gpus = 4, GpuType = "nvidia-h100" },
                Env = new Dictionary<string, string>
                {
                    ["SIM_DURATION"] = "75s",
                    ["SIM_GPU_UTILIZATION"] = "0.93,0.02,0.01,0",
                },
            }),
            new DemoJob("pretrain", "nlp", new SubmitJobRequest
            {
                Name = "pretrain",
                Project = "nlp",
                Command = ["simulated"],
                Resources = new ResourcesDto { Cpu = "100m", Memory = "256Mi", Gpus = 8, GpuType = "nvidia-h100" },
                Env = new Dictionary<string, string>
                {
                    ["SIM_DURATION"] = "60s",
                    ["SIM_GPU_UTILIZATION"] = "0.91,0.90,0.92,0.89,0.93,0.90,0.91,0.88",
                },
            }),
            new DemoJob("eval", "vision", new SubmitJobRequest
            {
                Name = "eval",
                Project = "vision",
                Command = ["sh", "-c", "echo 'evaluating release candidate'; i=1; while [ $i -le 8 ]; do echo \"eval batch $i/8\"; sleep 1; i=$((i+1)); done; echo 'accuracy 0.913'"],
                Resources = new ResourcesDto { Cpu = Quantity.FormatCpu(evalCpu), Memory = "256Mi" },
                NodeSelector = Local,
                Priority = 100,
            }),
        ];
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var client = new StratumClient(_server.Address, _server.AdminToken);

        // 1. Size everything from the node the server registered for this machine.
        var nodes = await client.ListNodesAsync(cancellationToken);
        var node = nodes.FirstOrDefault(n => n.Pool == "local" && n.State == "Ready") ?? nodes.FirstOrDefault(n => n.State == "Ready");
        if (node is null)
        {
            _terminal.Fail("the demo needs a ready node and the server has none; start without RegisterLocalNode=false");
            return;
        }

        var cpu = node.Allocatable.CpuMillis;
        _terminal.Out.MarkupLine($"[bold]Demo[/] on node {Markup.Escape(node.Name)} ({Markup.Escape(Format.Resources(node.Allocatable))})");

        // 2. Projects and quotas, the way an operator declares them.
        var applied = await client.ApplyAsync(new ApplyRequest { Document = InfraDocument(cpu) }, cancellationToken);
        _terminal.Out.MarkupLine($"  projects vision and nlp with quotas: {Markup.Escape(ApplyCommandSummary(applied))}");

        // 3. The jobs; eval waits until train has made progress worth preempting.
        var script = WriteTrainScript(_server.DataDirectory);
        var jobs = Jobs(cpu, script);
        var tracked = new List<Tracked>();
        foreach (var job in jobs.Take(jobs.Count - 1))
        {
            tracked.Add(await SubmitAsync(client, job, cancellationToken));
        }

        var eval = jobs[^1];
        var train = tracked.Single(t => t.Demo.Name == "train");
        DateTimeOffset? trainRunningSince = null;
        var started = _time.GetUtcNow();

        async Task<bool> StepAsync()
        {
            foreach (var item in tracked.Where(t => t.Job is not null))
            {
                item.Job = await client.GetJobAsync(item.Job!.Id, cancellationToken);
                if (item.Job.State == JobStates.Pending && !string.IsNullOrEmpty(item.Job.Reason))
                {
                    item.WaitReason = item.Job.Reason;
                }
            }

            if (tracked.All(t => t.Demo.Name != eval.Name))
            {
                var trainState = train.Job?.State;
                if (trainState == JobStates.Running)
                {
                    trainRunningSince ??= _time.GetUtcNow();
                }

                if (trainState is null || JobStates.IsTerminal(trainState) || (trainRunningSince is { } since && _time.GetUtcNow() - since >= TrainHeadStart))
                {
                    tracked.Add(await SubmitAsync(client, eval, cancellationToken));
                }
            }

            return IsSettled(tracked, eval.Name);
        }

        // 4. Watch until every job has settled: live in a terminal, one line per change elsewhere.
        var settled = _terminal.IsInteractive
            ? await WatchLiveAsync(tracked, started, StepAsync, cancellationToken)
            : await WatchPlainAsync(tracked, StepAsync, cancellationToken);

        // 5. What happened and what to try next.
        PrintSummary(tracked, settled);
    }

    private static Dictionary<string, string> Local => new() { ["pool"] = "local" };

    private static long Share(long cpuMillis, double fraction) => Math.Max(100, (long)(cpuMillis * fraction) / 100 * 100);

    /// <summary>Room for prep and the two short jobs, not for sweep beside prep.</summary>
    private static long NlpQuota(long cpuMillis) => Share(cpuMillis, 0.2) + 100;

    private static string ApplyCommandSummary(ApplyResultDto result) => Commands.ApplyCommand.Summary(result).Replace(" to ", " ", StringComparison.Ordinal);

    private static bool IsSettled(IReadOnlyList<Tracked> tracked, string lastJob) =>
        tracked.Any(t => t.Demo.Name == lastJob)
        && tracked.All(t => t.Job is null || JobStates.IsTerminal(t.Job.State));

    private async Task<Tracked> SubmitAsync(StratumClient client, DemoJob job, CancellationToken cancellationToken)
    {
        try
        {
            return new Tracked(job) { Job = await client.SubmitJobAsync(job.Request, KeyPrefix + job.Name, cancellationToken) };
        }
        catch (StratumApiException e) when ((int)e.StatusCode is >= 400 and < 500)
        {
            // A server that refuses a job over quota at submit is a fine outcome to show, not a reason to stop.
            return new Tracked(job) { Rejected = e.Message };
        }
    }

    private async Task<bool> WatchLiveAsync(List<Tracked> tracked, DateTimeOffset started, Func<Task<bool>> step, CancellationToken cancellationToken)
    {
        var settled = false;
        await _terminal.Out.Live(Render(tracked, started)).AutoClear(false).StartAsync(async context =>
        {
            while (!cancellationToken.IsCancellationRequested && _time.GetUtcNow() - started < SettleTimeout)
            {
                settled = await step();
                context.UpdateTarget(Render(tracked, started));
                context.Refresh();
                if (settled)
                {
                    return;
                }

                await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken);
            }
        });
        return settled;
    }

    private async Task<bool> WatchPlainAsync(List<Tracked> tracked, Func<Task<bool>> step, CancellationToken cancellationToken)
    {
        var started = _time.GetUtcNow();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        while (_time.GetUtcNow() - started < SettleTimeout)
        {
            var settled = await step();
            foreach (var item in tracked)
            {
                var line = item.Job is { } job
                    ? $"job {job.Id} {job.Name} ({job.Project}) {job.State}" + (string.IsNullOrEmpty(job.Reason) ? string.Empty : $": {job.Reason}")
                    : $"job {item.Demo.Name} ({item.Demo.Project}) rejected: {item.Rejected}";
                if (!seen.TryGetValue(item.Demo.Name, out var before) || before != line)
                {
                    seen[item.Demo.Name] = line;
                    _terminal.Out.WriteLine("  " + line);
                }
            }

            if (settled)
            {
                return true;
            }

            await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken);
        }

        return false;
    }

    private Table Render(IEnumerable<Tracked> tracked, DateTimeOffset started)
    {
        var table = Format.Table("ID", "NAME", "PROJECT", "STATE", "ATTEMPTS", "REASON");
        table.Title($"demo jobs, {Format.Duration(_time.GetUtcNow() - started)}");
        foreach (var item in tracked)
        {
            if (item.Job is { } job)
            {
                table.AddRow(
                    job.Id.ToString(CultureInfo.InvariantCulture),
                    Format.Cell(job.Name),
                    Format.Cell(job.Project),
                    Format.State(job.State),
                    job.Attempts.Count.ToString(CultureInfo.InvariantCulture),
                    Format.Cell(job.Reason));
            }
            else
            {
                table.AddRow("-", Format.Cell(item.Demo.Name), Format.Cell(item.Demo.Project), "[red]rejected[/]", "0", Format.Cell(item.Rejected));
            }
        }

        return table;
    }

    private void PrintSummary(IReadOnlyList<Tracked> tracked, bool settled)
    {
        var output = _terminal.Out;
        var cli = Markup.Escape(_terminal.InvokedAs);
        output.WriteLine();
        if (!settled)
        {
            output.MarkupLine($"[yellow]The demo's jobs have not settled after {Format.Duration(SettleTimeout)}[/]; follow them with {cli} jobs list.");
        }

        JobDto? Find(string name) => tracked.FirstOrDefault(t => t.Demo.Name == name)?.Job;
        if (Find("train") is { Attempts.Count: > 1 } train)
        {
            output.MarkupLine($"[bold]train[/] was preempted by eval, saved a checkpoint, and resumed from it in attempt {train.Attempts.Count}:");
            output.MarkupLine($"  {cli} jobs logs {train.Id} --attempt {train.Attempts.Count} | head -3");
        }

        if (tracked.FirstOrDefault(t => t.Demo.Name == "sweep") is { Job: { } sweep, WaitReason: { } reason })
        {
            output.MarkupLine($"[bold]sweep[/] waited while prep used nlp's quota: {Markup.Escape(reason)}");
            output.MarkupLine($"  {cli} jobs show {sweep.Id}");
        }

        if (Find("bad-config") is { State: JobStates.Failed } bad)
        {
            output.MarkupLine($"[bold]bad-config[/] failed with exit code {bad.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "?"}; its error output says why:");
            output.MarkupLine($"  {cli} jobs logs {bad.Id} --stderr");
        }

        if (Find("finetune") is { State: JobStates.Succeeded } finetune)
        {
            output.MarkupLine($"[bold]finetune[/] held 4 simulated GPUs and kept one busy; what that cost and what it should ask for:");
            output.MarkupLine($"  {cli} usage --by project   and   {cli} advise");
        }

        output.WriteLine();
        output.MarkupLine("Try next:");
        var next = new Grid().AddColumn(new GridColumn().PadLeft(2).PadRight(4).NoWrap()).AddColumn();
        next.AddRow($"{cli} jobs list", "[grey]all jobs, newest first[/]");
        next.AddRow($"{cli} nodes", "[grey]this machine as a node: CPUs, memory, GPUs free[/]");
        next.AddRow($"{cli} projects list", "[grey]quotas and what each project uses[/]");
        next.AddRow($"{cli} jobs submit -- echo hello", "[grey]your own job[/]");
        next.AddRow($"{cli} jobs submit --gpus 64 -- true", "[grey]a job that fits nowhere is refused, saying why[/]");
        output.Write(next);
        output.MarkupLine("[grey]The server keeps running; Ctrl-C stops it.[/]");
    }

    /// <summary>Writes the sample trainer (embedded from examples/train.sh) where jobs can run it.</summary>
    private static string WriteTrainScript(string dataDirectory)
    {
        var directory = Path.Combine(dataDirectory, "demo");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "train.sh");
        using var resource = typeof(DemoRunner).Assembly.GetManifestResourceStream("Stratum.Cli.Demo.train.sh")
            ?? throw new InvalidOperationException("train.sh is not embedded in this build of stratum");
        var temporary = path + ".tmp";
        using (var file = File.Create(temporary))
        {
            resource.CopyTo(file);
        }

        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.Move(temporary, path, overwrite: true);
        return path;
    }

    private sealed class Tracked(DemoJob demo)
    {
        public DemoJob Demo { get; } = demo;

        public JobDto? Job { get; set; }

        public string? Rejected { get; init; }

        /// <summary>The last reason it gave while it waited.</summary>
        public string? WaitReason { get; set; }
    }
}

/// <summary>One job of the demo: a short name, its project, and the request that submits it.</summary>
public sealed record DemoJob(string Name, string Project, SubmitJobRequest Request);
