using System.Security.Cryptography;
using System.Text;

namespace Stratum.Server.Auth;

/// <summary>
/// Token secrets: 32 random bytes, shown once as "stm_" + base64url, and stored only as their SHA-256.
/// A fast hash is right here (unlike passwords): the secret has 256 bits of entropy, so there is nothing
/// to brute-force, and every request pays for the hash.
/// </summary>
public static class TokenSecrets
{
    public const string Prefix = "stm_";

    public static string NewSecret() => Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string NewTokenId() => "tok_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    public static string Hash(string secret) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
