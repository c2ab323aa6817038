using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Stratum.Core;
using Stratum.Core.Cluster;

namespace Stratum.Execution;

/// <summary>What nvidia-smi reported: the devices it could read, and each line it could not, with why.</summary>
public sealed record NvidiaSmiInventory(IReadOnlyList<AcceleratorDevice> Devices, IReadOnlyList<string> Skipped);

/// <summary>Reads this machine's NVIDIA GPUs through <c>nvidia-smi</c>, and names their types the way pools and quotas do.</summary>
public static partial class NvidiaSmi
{
    /// <summary>The arguments whose output <see cref="ParseInventory"/> reads: one line per GPU, "0, GPU-uuid, NVIDIA H100 80GB HBM3, 81559 MiB".</summary>
    public static readonly IReadOnlyList<string> QueryArguments = ["--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader"];

    /// <summary>A wedged driver can make nvidia-smi hang; discovery gives up on it after this long.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Families whose memory size is part of the type, because both sizes were sold under one name and
    /// a job sized for 80 GB does not fit in 40 (A100 40/80 GB, V100 16/32 GB, ...).
    /// </summary>
    private static readonly HashSet<string> FamiliesSizedByMemory = new(StringComparer.Ordinal) { "a100", "a800", "v100", "p100" };

    /// <summary>Parses the CSV that <see cref="QueryArguments"/> produces. A line that cannot be read is skipped and named in <see cref="NvidiaSmiInventory.Skipped"/>.</summary>
    public static NvidiaSmiInventory ParseInventory(string csvOutput)
    {
        ArgumentNullException.ThrowIfNull(csvOutput);
        var devices = new List<AcceleratorDevice>();
        var skipped = new List<string>();
        var lineNumber = 0;
        foreach (var rawLine in csvOutput.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (ParseLine(line, devices) is { } problem)
            {
                skipped.Add($"line {lineNumber}: {problem}: '{line}'");
            }
        }

        return new NvidiaSmiInventory(devices, skipped);
    }

    /// <summary>
    /// The accelerator type for a model name: <c>nvidia-</c> and the family in lower case
    /// ("NVIDIA H100 80GB HBM3" → nvidia-h100), with the memory size for families sold in two sizes
    /// ("NVIDIA A100-SXM4-40GB" → nvidia-a100-40gb). Form factors (SXM, PCIe, NVL) are not part of the
    /// type. A model without a recognisable family becomes its name in lower case, dash-joined
    /// ("NVIDIA GeForce RTX 4090" → nvidia-geforce-rtx-4090). The result always satisfies <see cref="Names.IsValid"/>.
    /// </summary>
    /// <param name="model">The name as nvidia-smi prints it.</param>
    /// <param name="memoryBytes">The device's memory, used for the size when the name does not carry it.</param>
    public static string NormaliseType(string model, long memoryBytes = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        var tokens = Separators().Split(model.Trim().ToLowerInvariant()).Where(t => t.Length > 0).ToList();
        while (tokens.Count > 0 && tokens[0] is "nvidia" or "tesla")
        {
            tokens.RemoveAt(0);
        }

        if (tokens.Count > 0 && Family().IsMatch(tokens[0]))
        {
            var family = tokens[0];
            if (!FamiliesSizedByMemory.Contains(family))
            {
                return "nvidia-" + family;
            }

            var size = tokens.Select(t => MemorySize().Match(t)).FirstOrDefault(m => m.Success)?.Groups[1].Value;
            if (size is null && memoryBytes > 0)
            {
                // The board's usable memory is a little under its marketed size (40536 MiB on a 40 GB A100).
                size = Math.Round(memoryBytes / (double)(1L << 30)).ToString(CultureInfo.InvariantCulture);
            }

            return size is null ? "nvidia-" + family : $"nvidia-{family}-{size}gb";
        }

        var joined = string.Join('-', tokens.SelectMany(t => NotNameCharacters().Split(t)).Where(t => t.Length > 0));
        var name = joined.Length == 0 ? "nvidia-gpu" : "nvidia-" + joined;
        return name.Length <= Names.MaxLength ? name : name[..Names.MaxLength].TrimEnd('-');
    }

    /// <summary>
    /// Runs <c>nvidia-smi</c> with <see cref="QueryArguments"/> and returns its output; null when it is
    /// not installed (no GPU is a normal case), fails (exit code 6: no devices) or hangs.
    /// </summary>
    public static string? Run(TimeSpan? timeout = null)
    {
        if (FindOnPath("nvidia-smi") is not { } path)
        {
            return null;
        }

        var startInfo = new ProcessStartInfo(path)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in QueryArguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(startInfo);
            if (process is null)
            {
                return null;
            }

            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout ?? DefaultTimeout))
            {
                process.Kill(entireProcessTree: true);
                return null;
            }

            return process.ExitCode == 0 && output.Wait(TimeSpan.FromSeconds(5)) ? output.Result : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static string? ParseLine(string line, List<AcceleratorDevice> devices)
    {
        var fields = line.Split(',').Select(f => f.Trim()).ToArray();
        if (fields.Length < 4)
        {
            return $"expected 4 comma-separated fields (index, uuid, name, memory.total), got {fields.Length}";
        }

        if (!int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            return $"index '{fields[0]}' is not a number";
        }

        if (devices.Any(d => d.Index == index))
        {
            return $"index {index} appears twice";
        }

        // A name with commas in it would split into more fields; the memory is always last.
        var model = string.Join(", ", fields[2..^1]);
        if (model.Length == 0 || model.StartsWith('['))
        {
            return $"name '{model}' is missing";
        }

        if (ParseMemory(fields[^1]) is not { } memoryBytes)
        {
            return $"memory.total '{fields[^1]}' is not an amount like '81559 MiB'";
        }

        var uuid = fields[1].Length == 0 || fields[1].StartsWith('[') ? null : fields[1];
        devices.Add(new AcceleratorDevice(index, NormaliseType(model, memoryBytes), model, memoryBytes, uuid));
        return null;
    }

    private static long? ParseMemory(string text)
    {
        var match = MemoryAmount().Match(text);
        if (!match.Success || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            return null;
        }

        var shift = match.Groups[2].Value.ToUpperInvariant() switch
        {
            "KIB" => 10,
            "GIB" => 30,
            _ => 20, // MiB, and a bare number as --format=csv,nounits prints it
        };
        return amount > long.MaxValue >> shift ? null : amount << shift;
    }

    private static string? FindOnPath(string program)
    {
        var directories = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin");
        return directories.Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
    }

    [GeneratedRegex(@"^[a-z]{1,2}\d{1,4}[a-z]?$", RegexOptions.CultureInvariant)]
    private static partial Regex Family();

    [GeneratedRegex(@"^(\d{1,4})gb$", RegexOptions.CultureInvariant)]
    private static partial Regex MemorySize();

    [GeneratedRegex(@"[\s\-_/]+", RegexOptions.CultureInvariant)]
    private static partial Regex Separators();

    [GeneratedRegex(@"[^a-z0-9]+", RegexOptions.CultureInvariant)]
    private static partial Regex NotNameCharacters();

    [GeneratedRegex(@"^(\d+)\s*(MiB|GiB|KiB)?$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex MemoryAmount();
}
