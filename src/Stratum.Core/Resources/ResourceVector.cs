using System.Collections.Immutable;
using System.Text;

namespace Stratum.Core.Resources;

/// <summary>
/// An amount of compute: CPU in millicores, memory in bytes, and accelerators counted by type
/// (any string, for example <c>nvidia-h100</c> or <c>amd-mi300x</c>). Immutable; components may go
/// negative only as the result of <see cref="Subtract"/>, which callers check with <see cref="IsNonNegative"/>.
/// </summary>
public sealed class ResourceVector : IEquatable<ResourceVector>
{
    private static readonly ImmutableSortedDictionary<string, int> NoAccelerators =
        ImmutableSortedDictionary.Create<string, int>(StringComparer.Ordinal);

    public ResourceVector(long cpuMillis, long memoryBytes, IEnumerable<KeyValuePair<string, int>>? accelerators = null)
    {
        CpuMillis = cpuMillis;
        MemoryBytes = memoryBytes;
        var builder = NoAccelerators.ToBuilder();
        if (accelerators is not null)
        {
            foreach (var (type, count) in accelerators)
            {
                var total = builder.GetValueOrDefault(type) + count;
                if (total == 0)
                {
                    builder.Remove(type);
                }
                else
                {
                    builder[type] = total;
                }
            }
        }

        Accelerators = builder.ToImmutable();
        var all = 0;
        _flat = new KeyValuePair<string, int>[Accelerators.Count];
        var i = 0;
        foreach (var pair in Accelerators)
        {
            all += pair.Value;
            _flat[i++] = pair;
        }

        AcceleratorCount = all;
    }

    // Schedulers hash and total vectors for every queued job on every pass: walking the sorted map each
    // time was a tenth of a pass over 100,000 jobs. The vector is immutable, so both are computed once.
    private readonly KeyValuePair<string, int>[] _flat;
    private int _hashCode;

    public static ResourceVector Zero { get; } = new(0, 0);

    public long CpuMillis { get; }

    public long MemoryBytes { get; }

    /// <summary>Accelerator counts by type, sorted by type, without zero entries.</summary>
    public ImmutableSortedDictionary<string, int> Accelerators { get; }

    /// <summary>All accelerators, whatever their type.</summary>
    public int AcceleratorCount { get; }

    public bool IsZero => CpuMillis == 0 && MemoryBytes == 0 && Accelerators.Count == 0;

    public bool IsNonNegative => CpuMillis >= 0 && MemoryBytes >= 0 && Accelerators.Values.All(v => v >= 0);

    public static ResourceVector Of(double cpus = 0, long memoryBytes = 0, string? acceleratorType = null, int accelerators = 0) =>
        new((long)Math.Round(cpus * 1000), memoryBytes,
            acceleratorType is null || accelerators == 0 ? null : [new(acceleratorType, accelerators)]);

    public int AcceleratorsOf(string type) => Accelerators.GetValueOrDefault(type);

    public ResourceVector Add(ResourceVector other) =>
        new(CpuMillis + other.CpuMillis, MemoryBytes + other.MemoryBytes, Accelerators.Concat(other.Accelerators));

    public ResourceVector Subtract(ResourceVector other) =>
        new(CpuMillis - other.CpuMillis, MemoryBytes - other.MemoryBytes,
            Accelerators.Concat(other.Accelerators.Select(kv => new KeyValuePair<string, int>(kv.Key, -kv.Value))));

    public ResourceVector Multiply(int factor) =>
        new(CpuMillis * factor, MemoryBytes * factor,
            Accelerators.Select(kv => new KeyValuePair<string, int>(kv.Key, kv.Value * factor)));

    /// <summary>True when every component of this vector is at most the same component of <paramref name="available"/>.</summary>
    public bool FitsIn(ResourceVector available)
    {
        if (CpuMillis > available.CpuMillis || MemoryBytes > available.MemoryBytes)
        {
            return false;
        }

        foreach (var (type, count) in Accelerators)
        {
            if (count > available.AcceleratorsOf(type))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The components of this vector that exceed <paramref name="available"/>, in words
    /// ("nvidia-h100 4 > 2"), for pending reasons and error messages.
    /// </summary>
    public IReadOnlyList<string> Shortfalls(ResourceVector available)
    {
        var result = new List<string>();
        if (CpuMillis > available.CpuMillis)
        {
            result.Add($"cpu {Quantity.FormatCpu(CpuMillis)} > {Quantity.FormatCpu(available.CpuMillis)}");
        }

        if (MemoryBytes > available.MemoryBytes)
        {
            result.Add($"memory {Quantity.FormatMemory(MemoryBytes)} > {Quantity.FormatMemory(available.MemoryBytes)}");
        }

        foreach (var (type, count) in Accelerators)
        {
            var have = available.AcceleratorsOf(type);
            if (count > have)
            {
                result.Add($"{type} {count} > {have}");
            }
        }

        return result;
    }

    /// <summary>
    /// Dominant resource share (Ghodsi et al., NSDI'11): the largest fraction of <paramref name="total"/>
    /// that this vector takes in any one dimension. Dimensions the total lacks are ignored.
    /// </summary>
    public double DominantShare(ResourceVector total)
    {
        var share = 0.0;
        if (total.CpuMillis > 0)
        {
            share = Math.Max(share, (double)CpuMillis / total.CpuMillis);
        }

        if (total.MemoryBytes > 0)
        {
            share = Math.Max(share, (double)MemoryBytes / total.MemoryBytes);
        }

        foreach (var (type, count) in Accelerators)
        {
            var have = total.AcceleratorsOf(type);
            if (have > 0)
            {
                share = Math.Max(share, (double)count / have);
            }
        }

        return share;
    }

    public bool Equals(ResourceVector? other)
    {
        if (ReferenceEquals(this, other))
        {
            return true;
        }

        if (other is null || CpuMillis != other.CpuMillis || MemoryBytes != other.MemoryBytes || AcceleratorCount != other.AcceleratorCount
            || _flat.Length != other._flat.Length)
        {
            return false;
        }

        // Both are sorted by type with the same ordinal comparer, so equal vectors list the same pairs in the same order.
        for (var i = 0; i < _flat.Length; i++)
        {
            if (_flat[i].Value != other._flat[i].Value || !string.Equals(_flat[i].Key, other._flat[i].Key, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as ResourceVector);

    // Value equality for == too: comparing two vectors by reference (a node's capacity read back from
    // the store against the one just discovered) was always a bug.
    public static bool operator ==(ResourceVector? left, ResourceVector? right) => left is null ? right is null : left.Equals(right);

    public static bool operator !=(ResourceVector? left, ResourceVector? right) => !(left == right);

    public override int GetHashCode()
    {
        if (_hashCode != 0)
        {
            return _hashCode;
        }

        var hash = new HashCode();
        hash.Add(CpuMillis);
        hash.Add(MemoryBytes);
        foreach (var (type, count) in _flat)
        {
            hash.Add(type, StringComparer.Ordinal);
            hash.Add(count);
        }

        // 0 marks "not computed yet"; a vector whose hash is 0 just computes it again.
        _hashCode = hash.ToHashCode();
        return _hashCode;
    }

    /// <summary>"cpu 4, memory 16Gi, nvidia-h100 2".</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("cpu ").Append(Quantity.FormatCpu(CpuMillis));
        text.Append(", memory ").Append(Quantity.FormatMemory(MemoryBytes));
        foreach (var (type, count) in Accelerators)
        {
            text.Append(", ").Append(type).Append(' ').Append(count);
        }

        return text.ToString();
    }
}
