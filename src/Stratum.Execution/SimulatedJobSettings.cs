using System.Globalization;
using Stratum.Core.Jobs;
using Stratum.Core.Resources;

namespace Stratum.Execution;

/// <summary>
/// How a job behaves on the simulated executor, read from its environment. Everything is optional:
/// without settings a replica runs until stopped and uses what <see cref="SimulatedUsage"/> draws from
/// the job id. The names start with SIM_, not STRATUM_: STRATUM_* is reserved for what Stratum sets and a
/// job may not set it.
/// </summary>
public sealed record SimulatedJobSettings
{
    /// <summary>How long each replica runs before it exits by itself ("300s", "2h"); unset: until stopped.</summary>
    public const string DurationVariable = "SIM_DURATION";

    /// <summary>The exit code at the end of <see cref="DurationVariable"/>; 0 unless set.</summary>
    public const string ExitCodeVariable = "SIM_EXIT_CODE";

    /// <summary>How long a replica takes to exit after SIGTERM (checkpointing); 0 unless set. Longer than the grace period: it is killed.</summary>
    public const string StopAfterVariable = "SIM_STOP_AFTER";

    /// <summary>CPU cores each replica uses ("1.5", "500m").</summary>
    public const string CpuVariable = "SIM_CPU";

    /// <summary>Resident memory of each replica ("2Gi").</summary>
    public const string MemoryVariable = "SIM_MEMORY";

    /// <summary>Utilisation of each of a replica's GPUs in device order, 0..1 or a percentage ("0.9,0,0,0" or "90%"); GPUs past the list are idle.</summary>
    public const string GpuUtilizationVariable = "SIM_GPU_UTILIZATION";

    public TimeSpan? Duration { get; init; }

    public int ExitCode { get; init; }

    public TimeSpan StopAfter { get; init; }

    public double? CpuCores { get; init; }

    public long? MemoryBytes { get; init; }

    public IReadOnlyList<double>? GpuUtilizations { get; init; }

    /// <summary>The settings of <paramref name="spec"/>, or null with every problem, each naming its variable.</summary>
    public static SimulatedJobSettings? From(JobSpec spec, out IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var errors = new List<string>();
        var environment = spec.Environment;
        var settings = new SimulatedJobSettings();
        if (environment.TryGetValue(DurationVariable, out var durationText))
        {
            if (Quantity.TryParseDuration(durationText, out var duration) && duration >= TimeSpan.Zero)
            {
                settings = settings with { Duration = duration };
            }
            else
            {
                errors.Add($"{DurationVariable}='{durationText}' is not a duration; write for example 300s, 20m or 2h");
            }
        }

        if (environment.TryGetValue(ExitCodeVariable, out var codeText))
        {
            if (int.TryParse(codeText, NumberStyles.None, CultureInfo.InvariantCulture, out var code) && code <= 255)
            {
                settings = settings with { ExitCode = code };
            }
            else
            {
                errors.Add($"{ExitCodeVariable}='{codeText}' is not an exit code from 0 to 255");
            }
        }

        if (environment.TryGetValue(StopAfterVariable, out var stopText))
        {
            if (Quantity.TryParseDuration(stopText, out var stopAfter) && stopAfter >= TimeSpan.Zero)
            {
                settings = settings with { StopAfter = stopAfter };
            }
            else
            {
                errors.Add($"{StopAfterVariable}='{stopText}' is not a duration; write for example 5s");
            }
        }

        if (environment.TryGetValue(CpuVariable, out var cpuText))
        {
            if (Quantity.TryParseCpu(cpuText, out var millis) && millis >= 0)
            {
                settings = settings with { CpuCores = millis / 1000.0 };
            }
            else
            {
                errors.Add($"{CpuVariable}='{cpuText}' is not a CPU amount; write for example 1.5 or 500m");
            }
        }

        if (environment.TryGetValue(MemoryVariable, out var memoryText))
        {
            if (Quantity.TryParseMemory(memoryText, out var bytes) && bytes >= 0)
            {
                settings = settings with { MemoryBytes = bytes };
            }
            else
            {
                errors.Add($"{MemoryVariable}='{memoryText}' is not a memory amount; write for example 2Gi or 512Mi");
            }
        }

        if (environment.TryGetValue(GpuUtilizationVariable, out var gpuText))
        {
            var values = new List<double>();
            foreach (var part in gpuText.Split(',', StringSplitOptions.TrimEntries))
            {
                var percent = part.EndsWith('%');
                if (double.TryParse(percent ? part[..^1] : part, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
                    && (percent ? value / 100 : value) is var fraction && fraction is >= 0 and <= 1)
                {
                    values.Add(fraction);
                }
                else
                {
                    errors.Add($"{GpuUtilizationVariable}='{gpuText}': '{part}' is not a utilisation from 0 to 1 (or 0% to 100%)");
                    break;
                }
            }

            settings = settings with { GpuUtilizations = values };
        }

        problems = errors;
        return errors.Count == 0 ? settings : null;
    }
}

/// <summary>
/// The synthetic usage of a simulated replica: what its settings say, otherwise drawn from the job id so
/// that the same job always looks the same (a benchmark's or demo's 1,000 jobs are reproducible). About
/// one job in ten holds its GPUs idle and the others keep some of their GPUs busy, so advice has something to find.
/// </summary>
public static class SimulatedUsage
{
    public static double CpuCores(Job job, SimulatedJobSettings settings)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(settings);
        var requested = job.Spec.Resources.CpuMillis / 1000.0;
        return settings.CpuCores ?? Math.Round((requested > 0 ? requested : 1) * (0.15 + 0.8 * Draw(job.Id, 1)), 3);
    }

    public static long MemoryBytes(Job job, SimulatedJobSettings settings)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(settings);
        var requested = job.Spec.Resources.MemoryBytes > 0 ? job.Spec.Resources.MemoryBytes : 256L << 20;
        return settings.MemoryBytes ?? (long)(requested * (0.2 + 0.7 * Draw(job.Id, 2)));
    }

    /// <summary>Each of a replica's <paramref name="gpus"/> GPUs' utilisation, 0..1.</summary>
    public static IReadOnlyList<double> GpuUtilizations(Job job, SimulatedJobSettings settings, int gpus)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(settings);
        var values = new double[gpus];
        if (settings.GpuUtilizations is { } given)
        {
            for (var i = 0; i < gpus && i < given.Count; i++)
            {
                values[i] = given[i];
            }

            return values;
        }

        var idle = Draw(job.Id, 3) < 0.1;
        var busy = idle ? 0 : Math.Min(gpus, 1 + (int)(Draw(job.Id, 4) * gpus));
        for (var i = 0; i < gpus; i++)
        {
            values[i] = Math.Round(i < busy ? 0.4 + 0.55 * Draw(job.Id, 5 + i) : 0.02 * Draw(job.Id, 5 + i), 3);
        }

        return values;
    }

    /// <summary>A number in [0, 1) from the job id and a stream number (SplitMix64's finaliser).</summary>
    internal static double Draw(long jobId, int stream)
    {
        var z = unchecked((ulong)jobId * 0x9E3779B97F4A7C15UL + (ulong)stream * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
