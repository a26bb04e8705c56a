using RdmaCs.Configuration;

namespace RdmaCs.Cli.Commands;

/// <summary>Engine options from a command's sizes, validated; the error is printed in the command's name.</summary>
internal static class EngineOptionsFromCommandLine
{
    /// <summary>The options, or null after printing why they cannot work (the command then exits with 2).</summary>
    public static EngineOptions? Create(string command, long sizeBytes, long budgetBytes, long maxBlockBytes)
    {
        var options = new EngineOptions { BudgetBytes = budgetBytes, MaxBlockBytes = maxBlockBytes };
        try
        {
            options.Validate();
            if (sizeBytes <= 0 || sizeBytes % options.PageSize != 0)
            {
                throw new EngineConfigurationException($"--size must be a positive whole number of {options.PageSize}-byte pages");
            }
            return options;
        }
        catch (EngineConfigurationException e)
        {
            Console.Error.WriteLine($"rdmacs {command}: {e.Message}");
            return null;
        }
    }
}
