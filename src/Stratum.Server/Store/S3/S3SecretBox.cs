using System.Security.Cryptography;
using System.Text;

namespace Stratum.Server.Store.S3;

/// <summary>
/// Seals S3 secret keys for the metadata store. SigV4 needs the clear secret on the server, so a hash
/// (as for API tokens) cannot work; instead each secret is encrypted with AES-256-GCM under a key file in
/// the data directory (<c>s3-secrets.key</c>, 32 random bytes, mode 0600, created on first use). The
/// access key id is the associated data, so a sealed secret copied onto another key's row fails to open.
/// A copy of the database alone does not give the secrets away; the key file must be copied (and
/// backed up) with the data directory.
/// Sealed form: <c>v1.KEYID.BASE64(nonce ‖ ciphertext ‖ tag)</c>, KEYID the first 8 bytes of SHA-256 of the key in hex.
/// </summary>
public sealed class S3SecretBox
{
    public const string KeyFileName = "s3-secrets.key";

    private const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;

    private readonly byte[] _key;

    private S3SecretBox(byte[] key, string keyFile)
    {
        _key = key;
        KeyFile = keyFile;
        KeyId = Convert.ToHexStringLower(SHA256.HashData(key).AsSpan(0, 8));
    }

    public string KeyFile { get; }

    public string KeyId { get; }

    /// <summary>Reads <c>DATA/s3-secrets.key</c>, creating it (exclusively, 0600) when missing.</summary>
    public static S3SecretBox ForDataDirectory(string dataDirectory) => LoadOrCreate(Path.Combine(dataDirectory, KeyFileName));

    public static S3SecretBox LoadOrCreate(string keyFile)
    {
        keyFile = Path.GetFullPath(keyFile);
        if (!File.Exists(keyFile))
        {
            var fresh = RandomNumberGenerator.GetBytes(KeySize);
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(keyFile)!);
                using var file = new FileStream(keyFile, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
                file.Write(fresh);
                file.Flush(flushToDisk: true);
                return new S3SecretBox(fresh, keyFile);
            }
            catch (IOException) when (File.Exists(keyFile))
            {
                // Another process created it first: use that one, or the secrets it seals would not open here.
            }
        }

        var bytes = File.ReadAllBytes(keyFile);
        return bytes.Length == KeySize
            ? new S3SecretBox(bytes, keyFile)
            : throw new InvalidOperationException($"S3 secret key file {keyFile} holds {bytes.Length} bytes; it must hold exactly {KeySize} random bytes");
    }

    public string Seal(string accessKeyId, string secret)
    {
        var plain = Encoding.UTF8.GetBytes(secret);
        var sealedBytes = new byte[NonceSize + plain.Length + TagSize];
        var nonce = sealedBytes.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plain, sealedBytes.AsSpan(NonceSize, plain.Length), sealedBytes.AsSpan(NonceSize + plain.Length), Encoding.UTF8.GetBytes(accessKeyId));
        return $"v1.{KeyId}.{Convert.ToBase64String(sealedBytes)}";
    }

    /// <summary>The clear secret; throws <see cref="CryptographicException"/> naming the reason when it cannot be opened.</summary>
    public string Open(string accessKeyId, string sealedSecret)
    {
        var parts = sealedSecret.Split('.');
        if (parts.Length != 3 || parts[0] != "v1")
        {
            throw new CryptographicException($"the sealed secret of S3 key {accessKeyId} is not in the v1 format");
        }

        if (parts[1] != KeyId)
        {
            throw new CryptographicException($"the secret of S3 key {accessKeyId} was sealed under key {parts[1]}, but {KeyFile} holds key {KeyId}");
        }

        var bytes = Convert.FromBase64String(parts[2]);
        if (bytes.Length < NonceSize + TagSize)
        {
            throw new CryptographicException($"the sealed secret of S3 key {accessKeyId} is truncated");
        }

        var plain = new byte[bytes.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        aes.Decrypt(bytes.AsSpan(0, NonceSize), bytes.AsSpan(NonceSize, plain.Length), bytes.AsSpan(NonceSize + plain.Length), plain, Encoding.UTF8.GetBytes(accessKeyId));
        return Encoding.UTF8.GetString(plain);
    }
}
