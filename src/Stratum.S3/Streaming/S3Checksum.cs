using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;

namespace Stratum.S3.Streaming;

/// <summary>
/// The flexible checksums S3 clients send (x-amz-checksum-ALGORITHM as a header or an aws-chunked
/// trailer), computed incrementally over a body and rendered as AWS does: base64 of the big-endian value.
/// System.IO.Hashing (which has Crc32 and Crc64) is not served by this machine's package mirror, so the
/// CRCs are table-driven here; CRC32C uses the SSE4.2 crc32 instruction when the CPU has it.
/// </summary>
public abstract class S3Checksum
{
    /// <summary>Lower-case algorithm name as it appears in x-amz-checksum-NAME.</summary>
    public abstract string Name { get; }

    public abstract void Append(ReadOnlySpan<byte> data);

    public abstract string ToBase64();

    /// <summary>The checksum for a header name such as <c>x-amz-checksum-crc32</c>; null for an unknown algorithm.</summary>
    public static S3Checksum? ForHeader(string headerName)
    {
        const string Prefix = "x-amz-checksum-";
        return headerName.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase)
            ? Create(headerName[Prefix.Length..].ToLowerInvariant())
            : null;
    }

    public static S3Checksum? Create(string algorithm) => algorithm switch
    {
        "crc32" => new Crc32Checksum(),
        "crc32c" => new Crc32CChecksum(),
        "crc64nvme" => new Crc64NvmeChecksum(),
        "sha1" => new HashChecksum("sha1", HashAlgorithmName.SHA1),
        "sha256" => new HashChecksum("sha256", HashAlgorithmName.SHA256),
        _ => null,
    };

    private sealed class Crc32Checksum : S3Checksum
    {
        private uint _crc = uint.MaxValue;

        public override string Name => "crc32";

        public override void Append(ReadOnlySpan<byte> data) => _crc = Crc.Update32(Crc.Crc32Table, _crc, data);

        public override string ToBase64() => Crc.Base64(~_crc);
    }

    private sealed class Crc32CChecksum : S3Checksum
    {
        private uint _crc = uint.MaxValue;

        public override string Name => "crc32c";

        public override void Append(ReadOnlySpan<byte> data) => _crc = Crc.Update32C(_crc, data);

        public override string ToBase64() => Crc.Base64(~_crc);
    }

    private sealed class Crc64NvmeChecksum : S3Checksum
    {
        private ulong _crc = ulong.MaxValue;

        public override string Name => "crc64nvme";

        public override void Append(ReadOnlySpan<byte> data)
        {
            var crc = _crc;
            foreach (var b in data)
            {
                crc = Crc.Crc64NvmeTable[(byte)(crc ^ b)] ^ (crc >> 8);
            }

            _crc = crc;
        }

        public override string ToBase64()
        {
            Span<byte> bytes = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(bytes, ~_crc);
            return Convert.ToBase64String(bytes);
        }
    }

    private sealed class HashChecksum(string name, HashAlgorithmName algorithm) : S3Checksum
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(algorithm);

        public override string Name => name;

        public override void Append(ReadOnlySpan<byte> data) => _hash.AppendData(data);

        public override string ToBase64() => Convert.ToBase64String(_hash.GetHashAndReset());
    }
}

/// <summary>Reflected table CRCs: CRC-32 (ISO-HDLC, zlib's), CRC-32C (Castagnoli), CRC-64/NVME.</summary>
internal static class Crc
{
    public static readonly uint[] Crc32Table = Table32(0xEDB88320u);
    public static readonly uint[] Crc32CTable = Table32(0x82F63B78u);
    public static readonly ulong[] Crc64NvmeTable = Table64(0x9A6C9329AC4BC9B5ul);

    public static uint Update32(uint[] table, uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            crc = table[(byte)(crc ^ b)] ^ (crc >> 8);
        }

        return crc;
    }

    public static uint Update32C(uint crc, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported)
        {
            ulong wide = crc;
            while (data.Length >= 8)
            {
                wide = Sse42.X64.Crc32(wide, BinaryPrimitives.ReadUInt64LittleEndian(data));
                data = data[8..];
            }

            crc = (uint)wide;
            foreach (var b in data)
            {
                crc = Sse42.Crc32(crc, b);
            }

            return crc;
        }

        return Update32(Crc32CTable, crc, data);
    }

    public static string Base64(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return Convert.ToBase64String(bytes);
    }

    private static uint[] Table32(uint polynomial)
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? polynomial ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }

    private static ulong[] Table64(ulong polynomial)
    {
        var table = new ulong[256];
        for (ulong i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? polynomial ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
