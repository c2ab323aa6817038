using System.Diagnostics;
using System.Globalization;

namespace Stratum.Execution;

/// <summary>One GPU's reading. A null field is unknown (nvidia-smi said [N/A] or failed), never zero.</summary>
public sealed record GpuSample(int Index, string? Uuid, double? Utilization, long? MemoryUsedBytes, long? MemoryTotalBytes, double? PowerWatts, double? TemperatureCelsius);

/// <summary>GPU utilisation, memory, power and temperature from nvidia-smi when it is installed.</summary>
public static class GpuTelemetry
{
    /// <summary>Units are left out (nounits) so every field is a bare number or a bracketed reason.</summary>
    public static readonly IReadOnlyList<string> QueryArguments =
        ["--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu", "--format=csv,noheader,nounits"];

    /// <summary>Parses the query's output; lines that cannot be read are skipped.</summary>
    public static IReadOnlyList<GpuSample> Parse(string csv)
    {
        var samples = new List<GpuSample>();
        foreach (var raw in csv.Split('\n'))
        {
            var fields = raw.Trim().Split(',').Select(f => f.Trim()).ToArray();
            if (fields.Length < 7 || !int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                continue;
            }

            samples.Add(new GpuSample(
                index,
                fields[1].Length > 0 && !fields[1].StartsWith('[') ? fields[1] : null,
                Number(fields[2]) / 100,
                Number(fields[3]) is { } used ? (long)(used * 1024 * 1024) : null,
                Number(fields[4]) is { } total ? (long)(total * 1024 * 1024) : null,
                Number(fields[5]),
                Number(fields[6])));
        }

        return samples;
    }

    /// <summary>Runs the query; null when nvidia-smi is missing, fails or hangs (its telemetry is then unknown).</summary>
    public static string? Query(TimeSpan timeout)
    {
        if (new[] { "/usr/bin/nvidia-smi", "/usr/local/bin/nvidia-smi" }.FirstOrDefault(File.Exists) is not { } path)
        {
            return null;
        }

        var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in QueryArguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start);
            if (process is null)
            {
                return null;
            }

            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return null;
            }

            return process.ExitCode == 0 ? output.Result : null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return null;
        }
    }

    private static double? Number(string field) =>
        double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) ? value : null;
}
