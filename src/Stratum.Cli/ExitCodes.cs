namespace Stratum.Cli;

/// <summary>What <c>stratum</c> exits with, so scripts can tell a missing job from a dead server.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Anything not named below, including a server error (5xx).</summary>
    public const int Failure = 1;

    /// <summary>The command line itself is wrong: unknown option, missing argument, malformed value.</summary>
    public const int Usage = 2;

    /// <summary>The job, node, project or token does not exist (404).</summary>
    public const int NotFound = 3;

    /// <summary>The token is missing, wrong or lacks the role (401, 403).</summary>
    public const int AuthFailed = 4;

    /// <summary>No server answered, or none is configured.</summary>
    public const int Unreachable = 5;

    /// <summary>The server rejected the input (400, 422).</summary>
    public const int Invalid = 6;

    /// <summary>The change conflicts with the current state (409).</summary>
    public const int Conflict = 7;

    /// <summary><c>jobs wait</c>: the job ended Failed or Cancelled, or did not end in time.</summary>
    public const int JobFailed = 8;

    /// <summary>Interrupted by Ctrl-C.</summary>
    public const int Interrupted = 130;
}
