using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Stratum.Storage;

/// <summary>A chunk's id: the SHA-256 of its plaintext, written as 64 lowercase hex digits.</summary>
[JsonConverter(typeof(ChunkIdJsonConverter))]
public readonly record struct ChunkId
{
    public const int Size = 32;

    private readonly ulong _a;
    private readonly ulong _b;
    private readonly ulong _c;
    private readonly ulong _d;

    public ChunkId(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size)
        {
            throw new ArgumentException($"a chunk id is {Size} bytes, not {bytes.Length}", nameof(bytes));
        }

        _a = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        _b = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        _c = BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        _d = BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]);
    }

    /// <summary>The id of <paramref name="plaintext"/>.</summary>
    public static ChunkId Of(ReadOnlySpan<byte> plaintext)
    {
        Span<byte> hash = stackalloc byte[Size];
        SHA256.HashData(plaintext, hash);
        return new ChunkId(hash);
    }

    public static ChunkId Parse(string hex)
    {
        if (hex is null || hex.Length != Size * 2)
        {
            throw new FormatException($"a chunk id is {Size * 2} hex digits, got '{hex}'");
        }

        return new ChunkId(Convert.FromHexString(hex));
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Size];
        WriteTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>The first 12 hex digits, enough to tell chunks apart in messages.</summary>
    public string Short => ToString()[..12];
}

internal sealed class ChunkIdJsonConverter : JsonConverter<ChunkId>
{
    public override ChunkId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ChunkId.Parse(reader.GetString() ?? throw new JsonException("a chunk id must be a string"));

    public override void Write(Utf8JsonWriter writer, ChunkId value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString());
}
