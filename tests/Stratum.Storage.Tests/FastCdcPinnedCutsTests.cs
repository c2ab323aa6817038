using Stratum.Storage.Chunking;

namespace Stratum.Storage.Tests;

/// <summary>
/// Cut points and gear values recorded from the chunker as first released. Any change here moves chunk
/// boundaries, so new writes would stop deduplicating against every existing store: a speed-up of
/// <see cref="FastCdc.Cut"/> must keep these exact numbers.
/// </summary>
public sealed class FastCdcPinnedCutsTests
{
    [Fact]
    public void BuildGear_FixedSeed_PinnedValues()
    {
        var gear = FastCdc.BuildGear(FastCdc.GearSeed);

        Assert.Equal(0x13103cfceb26c6bcUL, gear[0]);
        Assert.Equal(0x800c9cb16ce13d38UL, gear[1]);
        Assert.Equal(0x2d61ae5489214011UL, gear[255]);
    }

    [Fact]
    public void Cut_DefaultSizesRandomBytes_PinnedCutPoints()
    {
        int[] expected =
        [
            1172313, 2440949, 3721929, 5054505, 6668147, 7903867, 8991797, 10581628, 12225121, 13439080,
            14616972, 16040399, 17375365, 18509489, 19724669, 20793034, 22275618, 23747938, 24848522, 25165824,
        ];

        Assert.Equal(expected, Cuts(new ChunkingOptions(), Data(24 << 20, text: false)));
    }

    [Fact]
    public void Cut_DefaultSizesText_PinnedCutPoints()
    {
        int[] expected =
        [
            1185654, 2793300, 4160309, 5453468, 7090965, 8143440, 9234522, 10318596, 11394051, 12496771,
            13647638, 14783538, 16490819, 17679011, 18883502, 20100944, 21586230, 22880671, 24002074, 25165824,
        ];

        Assert.Equal(expected, Cuts(new ChunkingOptions(), Data(24 << 20, text: true)));
    }

    [Fact]
    public void Cut_SmallSizes_PinnedCutPoints()
    {
        var options = new ChunkingOptions { MinSize = 2048, AverageSize = 8192, MaxSize = 32768 };
        int[] randomStart = [8282, 18585, 29059, 38028, 52846, 68065, 76566, 88639, 97974, 107317, 114907, 124660, 128201, 140247];
        int[] textStart = [13438, 22450, 32426, 40875, 49630, 65165, 77714, 90239, 94779, 103133, 113798, 122285, 131893, 141318];

        var random = Cuts(options, Data(1 << 20, text: false));
        var text = Cuts(options, Data(1 << 20, text: true));

        Assert.Equal(106, random.Count);
        Assert.Equal(randomStart, random[..randomStart.Length]);
        Assert.Equal(110, text.Count);
        Assert.Equal(textStart, text[..textStart.Length]);
    }

    private static List<int> Cuts(ChunkingOptions options, byte[] data)
    {
        var cdc = new FastCdc(options);
        var cuts = new List<int>();
        for (var offset = 0; offset < data.Length;)
        {
            offset += cdc.Cut(data.AsSpan(offset, Math.Min(options.MaxSize, data.Length - offset)));
            cuts.Add(offset);
        }

        return cuts;
    }

    /// <summary>Xorshift64 bytes: defined here, not by a library whose generator could change between versions.</summary>
    private static byte[] Data(int size, bool text)
    {
        const string Alphabet = "0123456789,.abcdef\n";
        var data = new byte[size];
        var state = 0x9E3779B97F4A7C15UL;
        for (var i = 0; i < size; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data[i] = text ? (byte)Alphabet[(int)(state % (ulong)Alphabet.Length)] : (byte)(state >> 56);
        }

        return data;
    }
}
