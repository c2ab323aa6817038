using System.Buffers.Binary;
using System.Security.Cryptography;
using Stratum.Storage.Crypto;
using Stratum.Storage.Native;

namespace Stratum.Storage.Format;

/// <summary>
/// One chunk as stored in a pack (docs/storage.md): an 84-byte header, then the payload (the plaintext,
/// zstd-compressed when that made it smaller, AES-256-GCM-encrypted when a key ring is given). The
/// first 56 header bytes (magic, flags, chunk id, lengths, key id) are the associated data, so a record
/// copied under another id or with edited lengths fails authentication.
/// </summary>
internal static class ChunkRecord
{
    public const int HeaderSize = 84;
    public const byte FlagCompressed = 1;
    public const byte FlagEncrypted = 2;
    private const int AuthenticatedSize = 56;
    private const int NonceOffset = 56;
    private const int TagOffset = 68;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int SampleSize = 64 * 1024;
    private static ReadOnlySpan<byte> Magic => "SCR1"u8;

    /// <summary>The largest record a plaintext of <paramref name="plainLength"/> bytes can produce.</summary>
    public static int MaxRecordSize(int plainLength) => HeaderSize + Math.Max(plainLength, Zstd.CompressBound(plainLength));

    /// <summary>
    /// Encodes <paramref name="plaintext"/> into <paramref name="destination"/>; returns the record length.
    /// <paramref name="cipher"/>, when given, is an <see cref="AesGcm"/> of <c>keys.Current</c> that the
    /// caller reuses across chunks on one thread (from <see cref="CreateCipher"/>): setting the key up per
    /// 1 MiB chunk cost nearly as much CPU as encrypting it.
    /// </summary>
    public static int Encode(ChunkId id, ReadOnlySpan<byte> plaintext, int compressionLevel, KeyRing? keys, Span<byte> destination, AesGcm? cipher = null)
    {
        var payload = destination[HeaderSize..];
        var flags = (byte)0;
        var payloadLength = plaintext.Length;
        if (compressionLevel > 0 && plaintext.Length > 0 && LooksCompressible(plaintext, compressionLevel, payload))
        {
            var compressed = Zstd.Compress(plaintext, payload, compressionLevel);
            if (compressed < plaintext.Length)
            {
                flags |= FlagCompressed;
                payloadLength = compressed;
            }
        }

        if ((flags & FlagCompressed) == 0)
        {
            plaintext.CopyTo(payload);
        }

        var header = destination[..HeaderSize];
        header.Clear();
        Magic.CopyTo(header);
        id.WriteTo(header[8..40]);
        BinaryPrimitives.WriteInt32LittleEndian(header[40..], plaintext.Length);
        BinaryPrimitives.WriteInt32LittleEndian(header[44..], payloadLength);
        if (keys is not null)
        {
            flags |= FlagEncrypted;
            header[4] = flags;
            BinaryPrimitives.WriteUInt64LittleEndian(header[48..], keys.Current.Id);
            var nonce = header.Slice(NonceOffset, NonceSize);
            RandomNumberGenerator.Fill(nonce);
            var owned = cipher is null ? CreateCipher(keys.Current) : null;
            try
            {
                var data = payload[..payloadLength];
                (cipher ?? owned!).Encrypt(nonce, data, data, header.Slice(TagOffset, TagSize), header[..AuthenticatedSize]);
            }
            finally
            {
                owned?.Dispose();
            }
        }
        else
        {
            header[4] = flags;
        }

        return HeaderSize + payloadLength;
    }

    /// <summary>An encryptor for records under <paramref name="key"/>; not safe for use by two threads at once.</summary>
    public static AesGcm CreateCipher(StoreKey key) => new(key.Material, TagSize);

    // Setting an AES key up per record cost about as much CPU as decrypting a 1 MiB record (restore and
    // verify read every record); a thread decodes one record at a time, so each keeps the last key's cipher.
    [ThreadStatic]
    private static (ulong KeyId, AesGcm Cipher)? _decryptor;

    private static AesGcm DecryptorFor(StoreKey key)
    {
        if (_decryptor is { } cached && cached.KeyId == key.Id)
        {
            return cached.Cipher;
        }

        _decryptor?.Cipher.Dispose();
        var cipher = CreateCipher(key);
        _decryptor = (key.Id, cipher);
        return cipher;
    }

    /// <summary>The plaintext length a record's header announces, after checking the header's shape.</summary>
    public static int PlainLength(ReadOnlySpan<byte> record) =>
        record.Length >= HeaderSize ? BinaryPrimitives.ReadInt32LittleEndian(record[40..]) : -1;

    /// <summary>
    /// Decodes <paramref name="record"/> into <paramref name="destination"/> (at least the plain length);
    /// returns null when it is good, otherwise why not. A key the ring lacks throws <see cref="StorageKeyException"/>.
    /// </summary>
    public static string? Decode(ChunkId expected, ReadOnlySpan<byte> record, KeyRing? keys, Span<byte> destination, string where)
    {
        if (record.Length < HeaderSize || !record[..4].SequenceEqual(Magic))
        {
            return "the record header is damaged (bad magic or truncated)";
        }

        var header = record[..HeaderSize];
        var flags = header[4];
        var id = new ChunkId(header[8..40]);
        var plainLength = BinaryPrimitives.ReadInt32LittleEndian(header[40..]);
        var payloadLength = BinaryPrimitives.ReadInt32LittleEndian(header[44..]);
        if (id != expected)
        {
            return $"the record holds chunk {id.Short}, not the one the index names";
        }

        if (plainLength < 0 || payloadLength < 0 || HeaderSize + payloadLength != record.Length || plainLength > destination.Length)
        {
            return "the record's lengths do not match the index";
        }

        var payload = record.Slice(HeaderSize, payloadLength);
        byte[]? decrypted = null;
        try
        {
            if ((flags & FlagEncrypted) != 0)
            {
                var keyId = BinaryPrimitives.ReadUInt64LittleEndian(header[48..]);
                if (keys?.Find(keyId) is not { } key)
                {
                    var loaded = keys is null ? "none (encryption is off)" : string.Join(", ", keys.Ids);
                    throw new StorageKeyException(
                        $"chunk {expected.Short} in {where} is encrypted with key {keyId:x16}, which is not loaded (loaded: {loaded}); "
                        + $"use the store's key file or set {StoreKey.EnvironmentVariable} to the right key");
                }

                decrypted = System.Buffers.ArrayPool<byte>.Shared.Rent(payloadLength);
                try
                {
                    DecryptorFor(key).Decrypt(header.Slice(NonceOffset, NonceSize), payload, header.Slice(TagOffset, TagSize), decrypted.AsSpan(0, payloadLength), header[..AuthenticatedSize]);
                }
                catch (AuthenticationTagMismatchException)
                {
                    return "authentication failed (the record was altered)";
                }

                payload = decrypted.AsSpan(0, payloadLength);
            }
            else if (keys is not null)
            {
                // A store with encryption on never writes plaintext records; accepting one would let a
                // record be swapped for a forged unencrypted one.
                return "the record is not encrypted but the store requires encryption";
            }

            var plain = destination[..plainLength];
            if ((flags & FlagCompressed) != 0)
            {
                if (Zstd.FrameContentSize(payload) != plainLength)
                {
                    return "the compressed frame's size does not match the record header";
                }

                try
                {
                    if (Zstd.Decompress(payload, plain) != plainLength)
                    {
                        return "decompression produced the wrong number of bytes";
                    }
                }
                catch (InvalidDataException e)
                {
                    return e.Message;
                }
            }
            else if (payloadLength == plainLength)
            {
                payload.CopyTo(plain);
            }
            else
            {
                return "the record's lengths do not match its flags";
            }

            return ChunkId.Of(plain) == expected ? null : "the content does not hash to the chunk id";
        }
        finally
        {
            if (decrypted is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(decrypted);
            }
        }
    }

    /// <summary>
    /// Random data does not compress; trying costs a full zstd pass. A 64 KiB sample that does not shrink
    /// by 2% marks the chunk incompressible (the same trick btrfs uses), which keeps ingest of random
    /// bytes near memcpy speed (bench storage).
    /// </summary>
    private static bool LooksCompressible(ReadOnlySpan<byte> plaintext, int level, Span<byte> scratch)
    {
        if (plaintext.Length <= 2 * SampleSize)
        {
            return true;
        }

        var sample = plaintext.Slice(plaintext.Length / 2, SampleSize);
        var compressed = Zstd.Compress(sample, scratch, level);
        return compressed < SampleSize * 98 / 100;
    }
}
