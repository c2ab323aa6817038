using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Stratum.Storage.Chunking;

/// <summary>
/// FastCDC content-defined chunking with normalised chunking (Xia et al., USENIX ATC 2016): a gear
/// rolling hash, cut-point skipping up to the minimum size, a stricter mask before the average size and
/// a looser one after it, so chunk sizes cluster around the average. Masks take the top bits of the
/// 64-bit fingerprint, which depend on the last 64 bytes (the low bits only on the last few).
/// </summary>
public sealed class FastCdc
{
    /// <summary>
    /// Seed of the gear table. Fixed forever: changing it moves every cut point and so ends dedup against
    /// existing data. The table is 256 values of SplitMix64 started from this seed (docs/storage.md).
    /// </summary>
    public const ulong GearSeed = 0x5374_7261_7475_6D31; // "Stratum1"

    private static readonly ulong[] Gear = BuildGear(GearSeed);

    private readonly int _min;
    private readonly int _normal;
    private readonly int _max;
    private readonly ulong _maskSmall;
    private readonly ulong _maskLarge;

    public FastCdc(ChunkingOptions options)
    {
        var problems = options.Problems();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems), nameof(options));
        }

        _min = options.MinSize;
        _normal = options.AverageSize;
        _max = options.MaxSize;
        var bits = BitOperations.Log2((uint)options.AverageSize);

        // Normalisation level 2: two more bits before the average, two fewer after it.
        _maskSmall = TopBits(bits + 2);
        _maskLarge = TopBits(bits - 2);
    }

    public int MaxSize => _max;

    /// <summary>
    /// Length of the first chunk of <paramref name="data"/>. When fewer than MaxSize bytes are given, they
    /// must be the end of the stream: a chunk may then end at the end of <paramref name="data"/>.
    /// </summary>
    public int Cut(ReadOnlySpan<byte> data)
    {
        // Hot path, run by the single producer of the ingest pipeline, so it bounds ingest speed: one
        // table lookup, shift and add per byte. Reading through refs drops the two bounds checks per byte
        // (the span's and the table's) that the indexed loop kept; the byte index is always below 256 and
        // i below n <= data.Length. Boundaries are unchanged (FastCdcPinnedCutsTests).
        var n = data.Length;
        if (n <= _min)
        {
            return n;
        }

        if (n > _max)
        {
            n = _max;
        }

        var normal = Math.Min(_normal, n);
        ref var gear = ref MemoryMarshal.GetArrayDataReference(Gear);
        ref var bytes = ref MemoryMarshal.GetReference(data);
        var maskSmall = _maskSmall;
        var maskLarge = _maskLarge;
        ulong fingerprint = 0;
        nint i = _min;
        for (; i < normal; i++)
        {
            fingerprint = (fingerprint << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref bytes, i));
            if ((fingerprint & maskSmall) == 0)
            {
                return (int)i + 1;
            }
        }

        for (; i < n; i++)
        {
            fingerprint = (fingerprint << 1) + Unsafe.Add(ref gear, Unsafe.Add(ref bytes, i));
            if ((fingerprint & maskLarge) == 0)
            {
                return (int)i + 1;
            }
        }

        return n;
    }

    internal static ulong[] BuildGear(ulong seed)
    {
        var table = new ulong[256];
        var state = seed;
        for (var i = 0; i < table.Length; i++)
        {
            // SplitMix64 (Steele, Lea and Flood 2014): a full-period generator with well-mixed outputs.
            state += 0x9E37_79B9_7F4A_7C15;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9;
            z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB;
            table[i] = z ^ (z >> 31);
        }

        return table;
    }

    private static ulong TopBits(int count) => count <= 0 ? 0 : ulong.MaxValue << (64 - count);
}
