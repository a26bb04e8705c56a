using System.CommandLine;

namespace RdmaCs.Cli.Commands;

/// <summary>A whole-number option with a lower bound, checked while parsing so the error names the option.</summary>
internal static class CountOption
{
    public static Option<int> Create(string name, string description, int defaultValue, int minimum)
    {
        var option = new Option<int>(name)
        {
            Description = description,
            HelpName = "n",
            DefaultValueFactory = _ => defaultValue,
        };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < minimum)
            {
                result.AddError($"{name} must be at least {minimum}");
            }
        });
        return option;
    }
}
