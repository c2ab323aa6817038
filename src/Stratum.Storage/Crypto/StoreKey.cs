using System.Security.Cryptography;
using System.Text;

namespace Stratum.Storage.Crypto;

/// <summary>
/// A 256-bit AES key and its id. The id (first 8 bytes of SHA-256 over a label and the key, in hex) is
/// stored in every chunk record, so a store can hold records under several keys while keys rotate, and
/// opening it with the wrong key is reported as such instead of as corruption.
/// </summary>
public sealed class StoreKey
{
    public const int Size = 32;

    /// <summary>The environment variable that may carry the key: 64 hex digits or base64 of 32 bytes.</summary>
    public const string EnvironmentVariable = "STRATUM_STORE_KEY";

    private static readonly byte[] IdLabel = Encoding.ASCII.GetBytes("stratum store key id v1\0");

    private StoreKey(byte[] material)
    {
        Material = material;
        var hash = SHA256.HashData([.. IdLabel, .. material]);
        Id = BitConverter.ToUInt64(hash, 0);
    }

    /// <summary>The key id as stored in records.</summary>
    public ulong Id { get; }

    /// <summary>The key id in hex, for messages.</summary>
    public string IdText => Id.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    internal byte[] Material { get; }

    public static StoreKey FromBytes(ReadOnlySpan<byte> material)
    {
        if (material.Length != Size)
        {
            throw new StorageKeyException($"a store key is {Size} bytes, got {material.Length}");
        }

        return new StoreKey(material.ToArray());
    }

    public static StoreKey Generate() => new(RandomNumberGenerator.GetBytes(Size));

    /// <summary>
    /// Reads the key file, or creates it with 32 random bytes and mode 0600 when it does not exist. The
    /// file is created exclusively, so two processes starting at once cannot end up with two keys.
    /// </summary>
    public static StoreKey LoadOrCreateFile(string path)
    {
        if (!File.Exists(path))
        {
            var key = Generate();
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                var options = new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                };
                using var file = new FileStream(path, options);
                file.Write(key.Material);
                file.Flush(flushToDisk: true);
                return key;
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first; use theirs.
            }
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != Size)
        {
            throw new StorageKeyException($"key file {path} holds {bytes.Length} bytes; a store key file holds exactly {Size} random bytes");
        }

        return new StoreKey(bytes);
    }

    /// <summary>The key in <see cref="EnvironmentVariable"/> (hex or base64), or null when it is not set.</summary>
    public static StoreKey? FromEnvironment(string variable = EnvironmentVariable)
    {
        var text = Environment.GetEnvironmentVariable(variable);
        return string.IsNullOrWhiteSpace(text) ? null : Parse(text.Trim(), variable);
    }

    /// <summary>Parses 64 hex digits or base64 of 32 bytes.</summary>
    public static StoreKey Parse(string text, string source = "key")
    {
        byte[]? bytes = null;
        if (text.Length == Size * 2)
        {
            try
            {
                bytes = Convert.FromHexString(text);
            }
            catch (FormatException)
            {
            }
        }

        if (bytes is null)
        {
            try
            {
                bytes = Convert.FromBase64String(text);
            }
            catch (FormatException)
            {
            }
        }

        if (bytes is not { Length: Size })
        {
            throw new StorageKeyException($"{source} must be {Size * 2} hex digits or base64 of {Size} bytes");
        }

        return new StoreKey(bytes);
    }
}

/// <summary>
/// The keys a store can decrypt with: the current one encrypts new records, older ones still decrypt
/// theirs (key rotation).
/// </summary>
public sealed class KeyRing
{
    private readonly Dictionary<ulong, StoreKey> _byId;

    public KeyRing(StoreKey current, params IEnumerable<StoreKey> older)
    {
        Current = current;
        _byId = new Dictionary<ulong, StoreKey> { [current.Id] = current };
        foreach (var key in older)
        {
            _byId.TryAdd(key.Id, key);
        }
    }

    public StoreKey Current { get; }

    public IEnumerable<string> Ids => _byId.Values.Select(k => k.IdText);

    public StoreKey? Find(ulong id) => _byId.GetValueOrDefault(id);
}

/// <summary>A key is missing, malformed, or not the one the data was encrypted with. Retrying does not help.</summary>
public sealed class StorageKeyException : Exception
{
    public StorageKeyException(string message)
        : base(message)
    {
    }

    public StorageKeyException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
