using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Stratum.Storage.Format;

/// <summary>Where one chunk's record lies in its pack.</summary>
public readonly record struct PackEntry(ChunkId Id, long Offset, int RecordLength, int PlainLength);

/// <summary>
/// Pack and index file layouts (docs/storage.md). A pack: a 32-byte header (magic, version, pack id),
/// chunk records, then a trailer listing its entries so an index can be rebuilt from packs alone. An
/// index file: the entries of exactly one pack, written only after that pack is durable, closed by a
/// SHA-256 of everything before it.
/// </summary>
internal static class PackFormat
{
    public const int PackHeaderSize = 32;
    public const int EntrySize = 48;
    public const int PackIdSize = 16;
    private const int FooterSize = 56;
    private const int IndexHeaderSize = 48;
    private const int Version = 1;
    private static ReadOnlySpan<byte> PackMagic => "STRPACK1"u8;
    private static ReadOnlySpan<byte> PackEndMagic => "STRPEND1"u8;
    private static ReadOnlySpan<byte> IndexMagic => "STRIDX01"u8;

    public static string PackName(string packId) => $"packs/{packId[..2]}/{packId}.pack";

    public static string IndexName(string packId) => $"index/{packId}.idx";

    public static void WritePackHeader(Stream pack, ReadOnlySpan<byte> packId)
    {
        Span<byte> header = stackalloc byte[PackHeaderSize];
        header.Clear();
        PackMagic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], Version);
        packId.CopyTo(header[16..]);
        pack.Write(header);
    }

    public static void WritePackTrailer(Stream pack, IReadOnlyList<PackEntry> entries)
    {
        var trailerOffset = pack.Position;
        var body = new byte[entries.Count * EntrySize];
        for (var i = 0; i < entries.Count; i++)
        {
            WriteEntry(body.AsSpan(i * EntrySize, EntrySize), entries[i]);
        }

        pack.Write(body);
        Span<byte> footer = stackalloc byte[FooterSize];
        BinaryPrimitives.WriteInt32LittleEndian(footer, entries.Count);
        BinaryPrimitives.WriteInt32LittleEndian(footer[4..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(footer[8..], trailerOffset);
        SHA256.HashData(body, footer[16..48]);
        PackEndMagic.CopyTo(footer[48..]);
        pack.Write(footer);
    }

    public static byte[] WriteIndex(string packId, long packLength, IReadOnlyList<PackEntry> entries)
    {
        var bytes = new byte[IndexHeaderSize + (entries.Count * EntrySize) + 32];
        var span = bytes.AsSpan();
        IndexMagic.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], Version);
        Convert.FromHexString(packId).CopyTo(span[16..32]);
        BinaryPrimitives.WriteInt64LittleEndian(span[32..], packLength);
        BinaryPrimitives.WriteInt32LittleEndian(span[40..], entries.Count);
        for (var i = 0; i < entries.Count; i++)
        {
            WriteEntry(span.Slice(IndexHeaderSize + (i * EntrySize), EntrySize), entries[i]);
        }

        SHA256.HashData(span[..^32], span[^32..]);
        return bytes;
    }

    /// <summary>Parses an index file; the reason it is unusable otherwise.</summary>
    public static (string PackId, long PackLength, List<PackEntry> Entries)? ReadIndex(ReadOnlySpan<byte> bytes, out string? problem)
    {
        problem = null;
        if (bytes.Length < IndexHeaderSize + 32 || !bytes[..8].SequenceEqual(IndexMagic))
        {
            problem = "not an index file (bad magic or truncated)";
            return null;
        }

        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(bytes[..^32], hash);
        if (!hash.SequenceEqual(bytes[^32..]))
        {
            problem = "checksum mismatch";
            return null;
        }

        var version = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes[40..]);
        if (version != Version || count < 0 || bytes.Length != IndexHeaderSize + ((long)count * EntrySize) + 32)
        {
            problem = $"unsupported version {version} or wrong entry count {count}";
            return null;
        }

        var packId = Convert.ToHexStringLower(bytes[16..32]);
        var packLength = BinaryPrimitives.ReadInt64LittleEndian(bytes[32..]);
        var entries = new List<PackEntry>(count);
        for (var i = 0; i < count; i++)
        {
            entries.Add(ReadEntry(bytes.Slice(IndexHeaderSize + (i * EntrySize), EntrySize)));
        }

        return (packId, packLength, entries);
    }

    private static void WriteEntry(Span<byte> span, PackEntry entry)
    {
        entry.Id.WriteTo(span);
        BinaryPrimitives.WriteInt64LittleEndian(span[32..], entry.Offset);
        BinaryPrimitives.WriteInt32LittleEndian(span[40..], entry.RecordLength);
        BinaryPrimitives.WriteInt32LittleEndian(span[44..], entry.PlainLength);
    }

    private static PackEntry ReadEntry(ReadOnlySpan<byte> span) =>
        new(new ChunkId(span[..32]), BinaryPrimitives.ReadInt64LittleEndian(span[32..]),
            BinaryPrimitives.ReadInt32LittleEndian(span[40..]), BinaryPrimitives.ReadInt32LittleEndian(span[44..]));
}
